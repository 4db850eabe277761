/** The bench-only Workers (bench/workers/): bundled and run with the options scripts/router-runtime.ts uses for the real one. */
import { Log, LogLevel, Miniflare } from 'miniflare'
import { fileURLToPath } from 'node:url'
import type { Readable } from 'node:stream'
import { bundleWorker, servedDirectly } from '../../scripts/router-runtime'

/** Bundles a bench entry (a path relative to bench/, e.g. `./workers/passthrough.ts`). */
export function benchBundle(entry: string): Promise<string> {
  return bundleWorker(fileURLToPath(new URL(`../${entry}`, import.meta.url)))
}

/** Same Miniflare options as startRouter, for the bench-only workers. */
export async function startBenchWorker(script: string, bindings: Record<string, string>, withState: boolean, opts: { inspectorPort?: number } = {}) {
  const miniflare = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2026-04-01',
    bindings,
    durableObjects: withState ? { ROUTER_STATE: { className: 'RouterStateObject', useSQLite: true } } : {},
    // Served as startRouter serves the router: no Miniflare hop in or out (the floor must not pay what the router does not).
    ...servedDirectly('127.0.0.1', 0),
    host: '127.0.0.1',
    port: 0,
    logRequests: false,
    // Loopback only: no attempt to fetch the Request.cf placeholder from workers.cloudflare.com.
    cf: false,
    ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
    log: process.env.BENCH_WORKER_LOG ? new Log(LogLevel.INFO) : undefined,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume()
      stderr.resume()
    },
  })
  await miniflare.ready
  const url = (await miniflare.unsafeGetDirectURL()).toString().replace(/\/$/, '')
  return { url, close: () => miniflare.dispose() }
}
