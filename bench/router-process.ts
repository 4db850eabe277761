/**
 * Child process for the benchmarks: a Worker in workerd via Miniflare, in its own process.
 *   BENCH_WORKER=router (default)  the router exactly as `npm start` runs it (scripts/router-runtime.ts startRouter:
 *                                  the Workers bundle, Durable Object state store bound)
 *   BENCH_WORKER=router-memory     the same with `noSharedState` (state in the isolate's memory, no DO)
 *   BENCH_WORKER=router-nosave     bench/workers/router-nosave.ts: DO bound, but no SQLite write per call (what-if)
 *   BENCH_WORKER=passthrough       bench/workers/passthrough.ts: the runtime's floor (env BENCH_UPSTREAM)
 * Vars come as JSON in env BENCH_ROUTER_VARS. Prints `{"url": "...", "pid": n}` when ready; exits (disposing
 * workerd) when stdin closes or on SIGTERM.
 */
import { startRouter } from '../scripts/router-runtime'
import { benchBundle as bundle, startBenchWorker } from './lib/bench-worker'

const kind = process.env.BENCH_WORKER ?? 'router'
const vars = JSON.parse(process.env.BENCH_ROUTER_VARS ?? '{}') as Record<string, string>

let running: { url: string; close(): Promise<void> }
// BENCH_WORKER_LOG: the worker's own output (log lines, uncaught errors) goes to this process's stdout/stderr.
const log = Boolean(process.env.BENCH_WORKER_LOG)
if (kind === 'router') running = await startRouter({ vars, host: '127.0.0.1', log })
else if (kind === 'router-memory') running = await startRouter({ vars, host: '127.0.0.1', noSharedState: true })
else if (kind === 'router-nosave') running = await startBenchWorker(await bundle('./workers/router-nosave.ts'), vars, true)
else if (kind === 'passthrough') running = await startBenchWorker(await bundle('./workers/passthrough.ts'), { UPSTREAM: process.env.BENCH_UPSTREAM ?? '' }, false)
else throw new Error(`unknown BENCH_WORKER ${kind}`)

process.stdout.write(`${JSON.stringify({ url: running.url, pid: process.pid })}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  void running.close().finally(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
