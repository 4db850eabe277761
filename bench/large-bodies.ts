/**
 * Section 7b: memory per request with concurrent large bodies. `count` Converse requests of `bodyMb` MB each
 * (one long text block, under the router's default 10 MiB body limit) sent at once, `rounds` times, through the
 * router as `npm start` runs it and through the passthrough Worker (the runtime's floor: it reads the body and
 * forwards it), both in workerd via Miniflare against the simulator in its own process. Sampled every 10 ms during
 * each burst: workerd's resident set and the worker isolate's V8 heap — in odd rounds as it is (garbage included: the
 * peak as it happened), in even rounds right after a full GC (the live set). Per request = (peak − the level after a
 * full GC before the burst) / count, as a multiple of the body.
 */
import { presignConverse } from './lib/presign'
import { readFileSync } from 'node:fs'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { descendants, processName, spawnJson } from './lib/procs'
import { watchIsolates } from './lib/inspector'
import { benchBundle, startBenchWorker } from './lib/bench-worker'
import { startRouter } from '../scripts/router-runtime'

const KEY = 'bench-large-key'
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const INSPECTOR_PORT = 9328
const MB = 1024 * 1024

export interface LargeBodyPath {
  /** Peak over the rounds of (RSS − RSS after a GC before the burst) / count, MB, and as a multiple of the body. */
  rssPerRequestMb: number
  rssPerBody: number
  /** The same for the worker isolate's V8 heap (strings and objects; request bytes live outside it), as it was. */
  heapPerRequestMb: number
  heapPerBody: number
  /** The live heap: the peak of readings each taken right after a full GC during the burst (what is held, not garbage). */
  liveHeapPerRequestMb: number
  liveHeapPerBody: number
  statuses: Record<string, number>
}

export interface LargeBodiesSection {
  count: number
  bodyMb: number
  rounds: number
  router: LargeBodyPath
  floor: LargeBodyPath
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : 0
}

function bigBody(bodyMb: number): string {
  const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil((bodyMb * MB) / 27)).slice(0, bodyMb * MB - 200)
  return JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }], inferenceConfig: { maxTokens: 50 } })
}

async function measure(opts: { url: string; isolate: string; send: () => Promise<Response>; count: number; rounds: number; bodyBytes: number }): Promise<LargeBodyPath> {
  const workerd = descendants(process.pid).find((p) => processName(p) === 'workerd')
  if (!workerd) throw new Error('no workerd process')
  const isolates = await watchIsolates(INSPECTOR_PORT, (n) => n === opts.isolate, () => fetch(`${opts.url}/health`).then((r) => r.arrayBuffer()))
  const statuses: Record<string, number> = {}
  let rssPeak = 0
  let heapPeak = 0
  let livePeak = 0
  try {
    for (let round = 0; round < opts.rounds; round++) {
      const before = await isolates.read()
      const rssBase = rssMb(workerd)
      const heapBase = before[opts.isolate].usedMb
      let running = true
      let rssMax = rssBase
      let heapMax = heapBase
      let liveMax = heapBase
      // Odd rounds read the heap as it is, even rounds after a full GC (a GC per reading would hide the garbage peak).
      const live = round % 2 === 1
      const sampling = (async () => {
        while (running) {
          rssMax = Math.max(rssMax, rssMb(workerd))
          const h = await isolates.read({ gc: live }).catch(() => undefined)
          if (h && live) liveMax = Math.max(liveMax, h[opts.isolate].usedMb)
          else if (h) heapMax = Math.max(heapMax, h[opts.isolate].usedMb)
          await new Promise((r) => setTimeout(r, 10))
        }
      })()
      await Promise.all(
        Array.from({ length: opts.count }, async () => {
          const res = await opts.send()
          await res.arrayBuffer()
          statuses[res.status] = (statuses[res.status] ?? 0) + 1
        }),
      )
      running = false
      await sampling
      if (Object.keys(statuses).some((st) => st !== '200')) throw new Error(`large bodies: answers other than 200 (${JSON.stringify(statuses)}): the memory figures would mean nothing`)
      if (!live) rssPeak = Math.max(rssPeak, (rssMax - rssBase) / opts.count)
      heapPeak = Math.max(heapPeak, (heapMax - heapBase) / opts.count)
      livePeak = Math.max(livePeak, (liveMax - heapBase) / opts.count)
    }
  } finally {
    isolates.close()
  }
  const bodyMb = opts.bodyBytes / MB
  return { rssPerRequestMb: rssPeak, rssPerBody: rssPeak / bodyMb, heapPerRequestMb: heapPeak, heapPerBody: heapPeak / bodyMb, liveHeapPerRequestMb: livePeak, liveHeapPerBody: livePeak / bodyMb, statuses }
}

export async function runLargeBodies(opts: { count: number; bodyMb: number; rounds: number; log: (line: string) => void }): Promise<LargeBodiesSection> {
  const sim = await spawnJson<{ endpoints: Record<string, string>; controlUrl: string; pid: number }>(['--import', 'tsx'], 'bench/sim-process.ts', ['us-east-1'])
  const body = bigBody(opts.bodyMb)
  const bodyBytes = Buffer.byteLength(body)
  const measureAt = (url: string, isolate: string, send: () => Promise<Response>) => measure({ url, isolate, count: opts.count, rounds: opts.rounds, bodyBytes, send })
  try {
    const router = await startRouter({
      vars: {
        ROUTER_CONFIG: JSON.stringify({ pools: { big: { deployments: [{ id: 'big-us-east-1', modelId: MODEL, region: 'us-east-1', endpoint: sim.info.endpoints['us-east-1'] }] } } }),
        ROUTER_API_KEYS: KEY,
        ROUTER_LOG_SAMPLE: '0',
        AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
      },
      host: '127.0.0.1',
      inspectorPort: INSPECTOR_PORT,
    })
    let routerPath: LargeBodyPath
    try {
      routerPath = await measureAt(router.url, 'core:user:router-0', () =>
        fetch(`${router.url}/model/big/converse`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body }),
      )
    } finally {
      await router.close()
    }
    const endpoint = sim.info.endpoints['us-east-1']
    const { path, headers } = await presignConverse(endpoint, MODEL, 'converse', body)
    const floor = await startBenchWorker(await benchBundle('./workers/passthrough.ts'), { UPSTREAM: endpoint }, false, { inspectorPort: INSPECTOR_PORT })
    let floorPath: LargeBodyPath
    try {
      floorPath = await measureAt(floor.url, 'core:user:', () => fetch(`${floor.url}${path}`, { method: 'POST', headers, body }))
    } finally {
      await floor.close()
    }
    const line = (name: string, p: LargeBodyPath) =>
      `  ${name}: per request RSS +${p.rssPerRequestMb.toFixed(1)} MB (${p.rssPerBody.toFixed(2)}× the body), JS heap +${p.heapPerRequestMb.toFixed(1)} MB (${p.heapPerBody.toFixed(2)}×), live +${p.liveHeapPerRequestMb.toFixed(1)} MB (${p.liveHeapPerBody.toFixed(2)}×); statuses ${JSON.stringify(p.statuses)}`
    opts.log(`  ${opts.count} concurrent bodies of ${(bodyBytes / MB).toFixed(1)} MB, ${opts.rounds} rounds`)
    opts.log(line('router', routerPath))
    opts.log(line('floor', floorPath))
    return { count: opts.count, bodyMb: bodyBytes / MB, rounds: opts.rounds, router: routerPath, floor: floorPath }
  } finally {
    await sim.stop()
  }
}
