/**
 * Section 7: the soak. The router as `npm start` runs it (scripts/router-runtime.ts: workerd via Miniflare, the
 * Durable Object bound), the simulator in a process of its own, random upstream faults (bench/lib/soak.ts),
 * every front door in turn at concurrency 64. Reported: how every request ended (an answer, a clean error; none may be
 * malformed or hang), uncaught errors the worker printed, the pool's state afterwards, and workerd's resident memory
 * sampled through the run, then after 10 s idle — flat after warm-up is the target.
 */
import { readFileSync } from 'node:fs'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { leftInFlight, SOAK_FAULTS, soakLoad, soakPool, type SoakTally } from './lib/soak'
import { descendants, processName, spawnJson } from './lib/procs'
import { startRouter } from '../scripts/router-runtime'

const KEY = 'bench-soak-key'
const ADMIN = 'bench-soak-admin'

export interface SoakSection extends SoakTally {
  concurrency: number
  rps: number
  uncaught: number
  leftInFlight: { probes: number; queued: number }
  /** workerd's RSS (MB) every 5 % of the run, then after 10 s idle. */
  memory: Array<{ done: number; rssMb: number }>
  idleRssMb: number
  /** RSS at 20 % of the run (after warm-up) and at its end. */
  warmRssMb: number
  endRssMb: number
  faultHits: number
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Math.round(Number(m[1]) / 1024) : 0
}

export async function runSoak(opts: { requests: number; concurrency: number; log: (line: string) => void; worker?: 'router' | 'router-memory' }): Promise<SoakSection> {
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
    noSharedState: opts.worker === 'router-memory',
    onOutput: (text) => {
      uncaught += (text.match(/Uncaught|unhandled rejection|UnhandledPromiseRejection/gi) ?? []).length
    },
  })
  try {
    const workerd = descendants(process.pid).find((p) => processName(p) === 'workerd')
    if (!workerd) throw new Error('no workerd process under the router')
    const control = (path: string, body: unknown) => fetch(`${sim.info.controlUrl}${path}`, { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json())
    await control('/__sim/reset', { seed: 2026 })
    await control('/__sim/rules', SOAK_FAULTS)
    const memory: Array<{ done: number; rssMb: number }> = [{ done: 0, rssMb: rssMb(workerd) }]
    const every = Math.max(1, Math.floor(opts.requests / 20))
    let done = 0
    const load = (requests: number) =>
      soakLoad({
        url: router.url,
        pool: 'soak',
        key: KEY,
        requests,
        concurrency: opts.concurrency,
        progress: () => {
          if (++done % every === 0) memory.push({ done, rssMb: rssMb(workerd) })
        },
      })
    const t = await load(opts.requests)
    const rules = (await (await fetch(`${sim.info.controlUrl}/__sim/rules`)).json()) as { rules: Array<{ hits: number }> }
    await new Promise((r) => setTimeout(r, 10_000))
    const idleRssMb = rssMb(workerd)
    const at = (share: number) => memory.reduce((best, m) => (Math.abs(m.done - share * opts.requests) < Math.abs(best.done - share * opts.requests) ? m : best), memory[0])
    const section: SoakSection = {
      ...t,
      concurrency: opts.concurrency,
      rps: t.requests / (t.durationMs / 1000),
      uncaught,
      leftInFlight: await leftInFlight(router.url, ADMIN, 'soak'),
      memory,
      idleRssMb,
      warmRssMb: at(0.2).rssMb,
      endRssMb: memory.at(-1)!.rssMb,
      faultHits: rules.rules.reduce((n, r) => n + r.hits, 0),
    }
    opts.log(`  ${t.requests} requests in ${(t.durationMs / 1000).toFixed(1)} s (${section.rps.toFixed(0)}/s): served ${t.served}, clean errors ${t.errors}, malformed ${t.malformed}, hung ${t.hung}; faults struck ${section.faultHits}; uncaught ${uncaught}`)
    opts.log(`  workerd RSS: start ${memory[0].rssMb} MB, at 20 % ${section.warmRssMb} MB, end ${section.endRssMb} MB, after 10 s idle ${idleRssMb} MB`)
    return section
  } finally {
    await router.close()
    await sim.stop()
  }
}

