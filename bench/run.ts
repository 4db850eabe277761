/**
 * `npm run bench`: runs every benchmark locally (127.0.0.1 only, bounded loops) and writes BENCHMARKS.md.
 *
 *   --only=overhead,peer,cpu,bundle,routing,noise,savings,soak   sections to run (default: all; "overhead" covers sections 1 and 2)
 *   --runs=N                             runs per measurement, medians reported (default 3)
 *   --quick                              1 run and fewer requests (a smoke test, not for the record)
 *   --out=FILE                           default BENCHMARKS.md; with --only or --quick, .bench-tmp/BENCHMARKS.partial.md
 *   --render                             measure nothing: re-render the report from .bench-tmp/results.json
 *
 * Raw results go to .bench-tmp/results.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runBundle } from './bundle'
import { runCpu } from './cpu'
import { machineInfo } from './lib/machine'
import { ROOT, stopAllChildren } from './lib/procs'
import { runOverhead } from './overhead'
import { renderReport, type BenchResults } from './report'
import { runNoise } from './noise'
import { runRouting } from './routing'
import { runSpendingLess } from './savings'
import { runSoak } from './soak'
import { runPeer } from './peer'
import { runAutoLeases, runBuiltLeases, runLeases } from './leases'
import { runLargeBodies } from './large-bodies'

const SECTIONS = ['overhead', 'peer', 'cpu', 'bundle', 'routing', 'noise', 'savings', 'soak'] as const
type Section = (typeof SECTIONS)[number]

function arg(name: string): string | undefined {
  const prefix = `--${name}=`
  const hit = process.argv.find((a) => a.startsWith(prefix))
  return hit?.slice(prefix.length)
}

const quick = process.argv.includes('--quick')
const onlyArg = arg('only')
const only = (onlyArg ? onlyArg.split(',').map((s) => s.trim()) : [...SECTIONS]) as Section[]
for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}; one of ${SECTIONS.join(', ')}`)
const runs = Number(arg('runs') ?? (quick ? 1 : 3))
const partial = !!onlyArg || quick
const outFile = arg('out') ?? (partial ? join('.bench-tmp', 'BENCHMARKS.partial.md') : 'BENCHMARKS.md')
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`

// Loopback only: Miniflare (also inside startRouter, which the bench does not change) would otherwise try to fetch the
// Request.cf placeholder from workers.cloudflare.com; wrangler's telemetry and its banner's npm update check are off.
// Children inherit this environment.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false'
process.env.WRANGLER_SEND_METRICS = 'false'
process.env.WRANGLER_HIDE_BANNER = 'true'

const log = (line: string) => process.stdout.write(`${line}\n`)
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130)
    interrupted = true
    log(`\n${signal}: stopping child processes…`)
    void stopAllChildren().finally(() => process.exit(130))
  })
}

if (process.argv.includes('--render')) {
  const saved = JSON.parse(readFileSync(join(ROOT, '.bench-tmp', 'results.json'), 'utf8')) as BenchResults
  const target = arg('out') ?? (saved.command === 'npm run bench' ? 'BENCHMARKS.md' : join('.bench-tmp', 'BENCHMARKS.partial.md'))
  writeFileSync(join(ROOT, target), renderReport(saved))
  log(`re-rendered ${target} from .bench-tmp/results.json (${saved.command}, ${saved.startedAt})`)
  process.exit(0)
}

const t0 = performance.now()
const results: BenchResults = {
  machine: machineInfo(),
  command,
  startedAt: new Date().toISOString(),
  elapsedMs: 0,
  sectionMs: {},
  options: { runs, quick },
}
log(`bench: ${only.join(', ')}; ${runs} run(s)${quick ? ', quick' : ''}; ${results.machine.nproc} CPUs (${results.machine.cpuModel}), Node ${results.machine.node}`)

async function section(name: Section, body: () => Promise<void>) {
  if (!only.includes(name)) return
  log(`\n[${name}]`)
  const s0 = performance.now()
  try {
    await body()
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e)
    log(`  ${name} failed: ${message}`)
    ;(results as unknown as Record<string, string>)[`${name}Error`] = message
  } finally {
    await stopAllChildren()
    results.sectionMs[name] = performance.now() - s0
  }
}

try {
  await section('routing', async () => {
    results.routing = runRouting({ seeds: quick ? [1] : [1, 2, 3], log })
    results.leases = { ...runLeases({ seeds: quick ? [1] : [1, 2, 3], log }), built: await runBuiltLeases({ quick, log }), auto: await runAutoLeases({ quick, log }) }
  })
  await section('noise', async () => {
    results.noise = runNoise({ seeds: quick ? [1] : [1, 2, 3], log })
  })
  await section('savings', async () => {
    results.savings = await runSpendingLess({ requests: quick ? 40 : 120, hardShare: 0.25, repeatShare: 0.34, conversations: quick ? 12 : 24, turns: 6, log })
  })
  await section('soak', async () => {
    results.soak = await runSoak({ requests: quick ? 2000 : 20_000, concurrency: 64, log })
    results.largeBodies = await runLargeBodies({ count: 6, bodyMb: 8, rounds: quick ? 2 : 4, log })
  })
  await section('bundle', async () => {
    results.bundle = await runBundle({ startups: quick ? 2 : 5, log })
  })
  await section('cpu', async () => {
    results.cpu = await runCpu({ runs: Math.max(1, runs), n: quick ? 200 : 400, log })
  })
  await section('overhead', async () => {
    results.overhead = await runOverhead({
      runs,
      concurrency: [1, 16, 64],
      requests: (c) => (quick ? (c === 1 ? 200 : 400) : c === 1 ? 400 : c === 16 ? 1000 : 1200),
      warmup: (c) => (c === 1 ? 50 : 4 * c),
      maxMs: 8000,
      streamConcurrency: [1, 16],
      streamRequests: (c) => (quick ? 150 : c === 1 ? 300 : 600),
      variantConcurrency: [1, 16],
      log,
    })
  })
  await section('peer', async () => {
    results.peer = await runPeer({ runs: quick ? 1 : Math.max(2, runs), durationS: quick ? 2 : 4, connections: 32, log })
  })
} finally {
  await stopAllChildren()
}

results.elapsedMs = performance.now() - t0
mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true })
writeFileSync(join(ROOT, '.bench-tmp', 'results.json'), JSON.stringify(results, null, 1))
const out = join(ROOT, outFile)
mkdirSync(join(out, '..'), { recursive: true })
writeFileSync(out, renderReport(results))
log(`\nwrote ${outFile} (${(results.elapsedMs / 60_000).toFixed(1)} min)`)
