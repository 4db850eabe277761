/**
 * Section 7: the soak. The router as `npm start` runs it (scripts/router-runtime.ts: workerd via Miniflare, the
 * Durable Object bound), the simulator in a process of its own, random upstream faults (bench/lib/soak.ts),
 * every front door in turn at concurrency 64. Reported: how every request ended (an answer, a clean error; none may be
 * malformed or hang), uncaught errors the worker printed, the pool's state afterwards, and workerd's resident memory
 * sampled through the run, then after 10 s idle — flat after warm-up is the target.
 */
import { presignConverse } from './lib/presign'
import { readFileSync } from 'node:fs'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { leftInFlight, SOAK_FAULTS, SOAK_MODEL, soakLoad, soakPool, type SoakTally } from './lib/soak'
import { descendants, processName, spawnJson } from './lib/procs'
import { watchIsolates, type HeapReading } from './lib/inspector'
import { benchBundle, startBenchWorker } from './lib/bench-worker'
import { startRouter } from '../scripts/router-runtime'

const KEY = 'bench-soak-key'
const ADMIN = 'bench-soak-admin'

/** One memory sample: workerd's RSS and, by isolate, the V8 heap in use (MB). */
export interface MemorySample {
  done: number
  rssMb: number
  heapMb?: Record<string, number>
}

export interface MemoryRun {
  /** Every 5 % of the run, then one after 10 s idle (`done` = requests so far). */
  samples: MemorySample[]
  idle: MemorySample
  /** RSS at 20 % of the run (after warm-up) and at its end. */
  warmRssMb: number
  endRssMb: number
}

export interface SoakSection extends SoakTally {
  concurrency: number
  rps: number
  uncaught: number
  leftInFlight: { probes: number; queued: number }
  memory: MemoryRun
  /**
   * The runtime's floor under the same load shape: the passthrough Worker (bench/workers/passthrough.ts) in the same
   * workerd/Miniflare, the same number of pre-signed Converse and ConverseStream requests at the same concurrency,
   * against the same faulting simulator. What workerd's resident set does with no router code in it.
   */
  floor?: { requests: number; durationMs: number; memory: MemoryRun; statuses: Record<string, number> }
  faultHits: number
}

const INSPECTOR_PORT = 9329
/**
 * The isolates whose heaps are sampled: the router's (its Durable Object runs in it too). Miniflare's entry isolate
 * no longer carries the requests (startRouter serves the Worker on workerd's own socket), and an inspector command
 * to an isolate that runs no event is never answered.
 */
const watched = (name: string) => name.startsWith('core:user:')

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Math.round(Number(m[1]) / 1024) : 0
}

export async function runSoak(opts: { requests: number; concurrency: number; log: (line: string) => void; worker?: 'router' | 'router-memory'; floor?: boolean }): Promise<SoakSection> {
  const sim = await spawnJson<{ endpoints: Record<string, string>; controlUrl: string; pid: number }>(['--import', 'tsx'], 'bench/sim-process.ts', ['us-east-1,us-west-2,eu-west-1'])
  const vars = JSON.stringify({
    ROUTER_CONFIG: JSON.stringify({ pools: { soak: soakPool(sim.info.endpoints) } }),
    ROUTER_API_KEYS: KEY,
    ROUTER_ADMIN_KEY: ADMIN,
    ROUTER_LOG_SAMPLE: '0',
    AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
  })
  // Miniflare in this process; workerd, the runtime, is a process of its own whose output is watched for uncaught errors.
  let uncaught = 0
  const router = await startRouter({
    vars: JSON.parse(vars) as Record<string, string>,
    host: '127.0.0.1',
    inspectorPort: INSPECTOR_PORT,
    noSharedState: opts.worker === 'router-memory',
    onOutput: (text) => {
      uncaught += (text.match(/Uncaught|unhandled rejection|UnhandledPromiseRejection/gi) ?? []).length
    },
  })
  let closed: Promise<void> | undefined
  const closeRouter = () => (closed ??= router.close())
  try {
    const workerd = descendants(process.pid).find((p) => processName(p) === 'workerd')
    if (!workerd) throw new Error('no workerd process under the router')
    const control = (path: string, body: unknown) => fetch(`${sim.info.controlUrl}${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json())
    await control('/__sim/reset', { seed: 2026 })
    await control('/__sim/rules', SOAK_FAULTS)
    const sampler = await memorySampler(workerd, opts.requests, router.url)
    const t = await soakLoad({ url: router.url, pool: 'soak', key: KEY, requests: opts.requests, concurrency: opts.concurrency, progress: sampler.progress })
    const rules = (await (await fetch(`${sim.info.controlUrl}/__sim/rules`)).json()) as { rules: Array<{ hits: number }> }
    const memory = await sampler.finish()
    const section: SoakSection = {
      ...t,
      concurrency: opts.concurrency,
      rps: t.requests / (t.durationMs / 1000),
      uncaught,
      leftInFlight: await leftInFlight(router.url, ADMIN, 'soak'),
      memory,
      faultHits: rules.rules.reduce((n, r) => n + r.hits, 0),
    }
    opts.log(`  ${t.requests} requests in ${(t.durationMs / 1000).toFixed(1)} s (${section.rps.toFixed(0)}/s): served ${t.served}, clean errors ${t.errors}, malformed ${t.malformed}, hung ${t.hung}; faults struck ${section.faultHits}; uncaught ${uncaught}`)
    opts.log(`  router: ${describe(memory)}`)
    await closeRouter()
    if (opts.floor !== false) {
      await control('/__sim/reset', { seed: 2026 })
      await control('/__sim/rules', SOAK_FAULTS)
      section.floor = await floorSoak(sim.info.endpoints['us-east-1'], opts.requests, opts.concurrency)
      opts.log(`  floor (passthrough Worker, ${section.floor.requests} requests in ${(section.floor.durationMs / 1000).toFixed(1)} s): ${describe(section.floor.memory)}`)
    }
    return section
  } finally {
    await closeRouter()
    await sim.stop()
  }
}

function describe(m: MemoryRun): string {
  const heaps = (x: MemorySample) => Object.entries(x.heapMb ?? {}).map(([n, v]) => `${n.replace('core:user:', '')} ${v.toFixed(1)}`).join(', ')
  return `RSS start ${m.samples[0].rssMb} MB, at 20 % ${m.warmRssMb} MB, end ${m.endRssMb} MB, after 10 s idle ${m.idle.rssMb} MB; JS heaps (MB) at 20 %: ${heaps(at(m, 0.2))}; end: ${heaps(m.samples.at(-1)!)}; idle: ${heaps(m.idle)}`
}

/** The sample nearest to a share of the run. */
export function at(m: MemoryRun, share: number): MemorySample {
  const total = m.samples.at(-1)!.done
  return m.samples.reduce((best, x) => (Math.abs(x.done - share * total) < Math.abs(best.done - share * total) ? x : best), m.samples[0])
}

/** Samples RSS (and the isolates' heaps, through the inspector) every 5 % of the run, then after 10 s idle. */
async function memorySampler(pid: number, requests: number, url: string) {
  const isolates = await watchIsolates(INSPECTOR_PORT, watched, () => fetch(`${url}/health`).then((r) => r.arrayBuffer()))
  const samples: MemorySample[] = []
  const sample = async (done: number): Promise<MemorySample> => {
    const rss = rssMb(pid)
    const heaps = await isolates.read().catch(() => undefined)
    const heapMb = heaps && Object.fromEntries(Object.entries(heaps).map(([n, h]: [string, HeapReading]) => [n, Math.round(h.usedMb * 10) / 10]))
    return { done, rssMb: rss, ...(heapMb ? { heapMb } : {}) }
  }
  samples.push(await sample(0))
  const every = Math.max(1, Math.floor(requests / 20))
  const pending: Array<Promise<void>> = []
  let done = 0
  return {
    progress: () => {
      const now = ++done
      if (now % every === 0) pending.push(sample(now).then((x) => void samples.push(x)))
    },
    async finish(): Promise<MemoryRun> {
      await Promise.all(pending)
      samples.sort((a, b) => a.done - b.done)
      await new Promise((r) => setTimeout(r, 10_000))
      const idle = await sample(done)
      isolates.close()
      const run: MemoryRun = { samples, idle, warmRssMb: 0, endRssMb: samples.at(-1)!.rssMb }
      run.warmRssMb = at(run, 0.2).rssMb
      return run
    },
  }
}

/** Pre-signs one request (the simulator verifies the signature every time; the floor Worker forwards it unchanged). */
async function presigned(endpoint: string, operation: 'converse' | 'converse-stream') {
  const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'tell me' }] }], inferenceConfig: { maxTokens: 200 } })
  const { path, headers } = await presignConverse(endpoint, SOAK_MODEL, operation, body)
  return { path, headers, body }
}

/** The floor's soak: Converse and ConverseStream in turn through the passthrough Worker, every body read to its end. */
async function floorSoak(endpoint: string, requests: number, concurrency: number): Promise<NonNullable<SoakSection['floor']>> {
  const worker = await startBenchWorker(await benchBundle('./workers/passthrough.ts'), { UPSTREAM: endpoint }, false, { inspectorPort: INSPECTOR_PORT })
  try {
    const workerd = descendants(process.pid).find((p) => processName(p) === 'workerd')
    if (!workerd) throw new Error('no workerd process under the floor Worker')
    const shapes = [await presigned(endpoint, 'converse'), await presigned(endpoint, 'converse-stream')]
    const sampler = await memorySampler(workerd, requests, worker.url)
    const statuses: Record<string, number> = {}
    const started = Date.now()
    let next = 0
    await Promise.all(
      Array.from({ length: Math.min(concurrency, requests) }, async () => {
        for (let i = next++; i < requests; i = next++) {
          const shape = shapes[i % shapes.length]
          let status = 'failed'
          try {
            const res = await fetch(`${worker.url}${shape.path}`, { method: 'POST', headers: shape.headers, body: shape.body, signal: AbortSignal.timeout(20_000) })
            status = String(res.status)
            await res.arrayBuffer()
          } catch {
            // A reset or a cut ends this request (the faults are the router's run's); counted, not retried.
          }
          statuses[status] = (statuses[status] ?? 0) + 1
          sampler.progress()
        }
      }),
    )
    const durationMs = Date.now() - started
    // Mostly refused requests would make the floor's memory a baseline of nothing: say so rather than report it.
    if ((statuses['200'] ?? 0) < requests * 0.8) throw new Error(`the floor's requests were mostly not answered 200: ${JSON.stringify(statuses)}`)
    return { requests, durationMs, memory: await sampler.finish(), statuses }
  } finally {
    await worker.close()
  }
}

