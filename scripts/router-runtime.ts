/**
 * Runs the router the way it runs in production: the Workers bundle inside workerd (Miniflare), with the
 * environment as Worker vars. Used by `npm start`, the end-to-end tests and the benchmarks.
 */
import { build } from 'esbuild'
import { Log, LogLevel, Miniflare, type WorkerOptions } from 'miniflare'
import { appendFileSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
let bundle: Promise<string> | undefined

/** Bundles a Workers entry (ES module text) the way wrangler resolves packages: workerd/worker/browser builds. */
export async function bundleWorker(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    external: ['cloudflare:*'],
    minify: true,
    write: false,
    logLevel: 'silent',
  })
  return result.outputFiles[0].text
}

/** The router's Workers bundle, built once per process. */
export function workerBundle(): Promise<string> {
  bundle ??= bundleWorker(`${root}/src/adapter/cloudflare-workers/index.ts`)
  return bundle
}

/**
 * `request.cf` for local runs. Without a `cf` option Miniflare downloads a sample object from
 * workers.cloudflare.com at every start (and prints a stack trace when offline); the router reads nothing from
 * it, so a fixed local object keeps `npm start`, the tests and the benchmarks off the network.
 */
export const LOCAL_CF = {
  colo: 'LOCAL',
  country: 'XX',
  continent: 'XX',
  city: 'localhost',
  timezone: 'UTC',
  asn: 0,
  asOrganization: 'loopback',
  httpProtocol: 'HTTP/1.1',
  clientTcpRtt: 0,
  tlsVersion: '',
  tlsCipher: '',
} as const

export interface RouterProcess {
  url: string
  miniflare: Miniflare
  /** With `instances > 1`: one fetch per worker instance (separate isolates sharing one DO namespace). */
  instances: Array<(input: string, init?: RequestInit) => Promise<Response>>
  close(): Promise<void>
}

/** Vars passed to the worker: router settings and upstream credentials, nothing else from the host env. */
export function workerVars(env: Record<string, string | undefined>): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue
    if (name.startsWith('ROUTER_') || name.startsWith('AWS_ACCESS_KEY_ID') || name.startsWith('AWS_SECRET_ACCESS_KEY') || name.startsWith('AWS_SESSION_TOKEN') || name.startsWith('AWS_BEARER_TOKEN_BEDROCK')) {
      vars[name] = value
    }
  }
  return vars
}

export interface RouterOptions {
  vars: Record<string, string>
  port?: number
  host?: string
  log?: boolean
  /** Worker instances (isolates) sharing the ROUTER_STATE Durable Object namespace. Default 1. */
  instances?: number
  /** Omit the Durable Object binding: state in memory per isolate. */
  noSharedState?: boolean
  /** Without `log`: the worker's output (log lines, uncaught errors), as text, instead of being dropped. */
  onOutput?: (text: string) => void
  /** Service bindings answered by functions in this process (tests: a custom strategy behind a binding). */
  serviceBindings?: Record<string, (request: Request) => Response | Promise<Response>>
  /** Open workerd's V8 inspector on this port (benchmarks read the isolates' heaps through it). */
  inspectorPort?: number
}

/**
 * How a request reaches the Worker and its upstream calls leave it, the way they do on Cloudflare: straight from
 * workerd's own HTTP server (a direct socket) and straight out, without Miniflare's development hops — its entry
 * Worker (request.cf, CF-Connecting-IP, and a log line posted to Node per request, all of which the router does
 * without: it logs its own line) and its outbound Worker that strips CF-Connecting-IP from every subrequest (the
 * router's upstream requests are built afresh, no client header is forwarded). Each hop ran JS, a Request and a
 * Response per request: together about half of workerd's CPU per routed Converse (BENCHMARKS.md §2b: 1.44 → 0.75 ms).
 * Not done locally therefore: response compression (Cloudflare's edge does it) and Miniflare's console line per request.
 */
export function servedDirectly(host: string, port: number): Pick<WorkerOptions, 'unsafeDirectSockets' | 'stripCfConnectingIp'> {
  return { unsafeDirectSockets: [{ host, port }], stripCfConnectingIp: false }
}

export async function startRouter(opts: RouterOptions): Promise<RouterProcess> {
  const script = await workerBundle()
  const count = Math.max(1, opts.instances ?? 1)
  const host = opts.host ?? '127.0.0.1'
  const workers = Array.from({ length: count }, (_, i) => ({
    name: `router-${i}`,
    modules: true,
    script,
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['enable_request_signal'],
    bindings: opts.vars,
    // The first instance serves the URL; the others are reached through Miniflare (`instances`), as tests drive them.
    ...(i === 0 ? servedDirectly(host, opts.port ?? 0) : { stripCfConnectingIp: false }),
    ...(opts.serviceBindings ? { serviceBindings: opts.serviceBindings } : {}),
    durableObjects: opts.noSharedState
      ? {}
      : { ROUTER_STATE: { className: 'RouterStateObject', useSQLite: true, ...(i === 0 ? {} : { scriptName: 'router-0' }) } },
  })) as Array<WorkerOptions & { name: string }>
  const miniflare = new Miniflare({
    workers,
    // Miniflare's own socket (its entry Worker) only carries `instances`' calls: any free port on loopback, not
    // announced — HOST=0.0.0.0 opens the router's direct socket to the network, never this one.
    host: '127.0.0.1',
    port: 0,
    logRequests: false,
    cf: LOCAL_CF,
    ...(opts.inspectorPort ? { inspectorPort: opts.inspectorPort } : {}),
    log: opts.log ? new Log(LogLevel.INFO) : undefined,
    // Without `log`, the worker's own log lines are drained silently (tests, benchmarks).
    handleRuntimeStdio: opts.log
      ? undefined
      : (stdout: Readable, stderr: Readable) => {
          if (opts.onOutput) for (const stream of [stdout, stderr]) stream.on('data', (chunk) => opts.onOutput!(String(chunk)))
          // ROUTER_OUTPUT_LOG: a copy of everything the worker prints, appended to that file (the test suite's secret sweep reads it).
          const copy = process.env.ROUTER_OUTPUT_LOG
          if (copy) for (const stream of [stdout, stderr]) stream.on('data', (chunk) => appendFileSync(copy, chunk))
          stdout.resume()
          stderr.resume()
        },
  })
  await miniflare.ready
  const url = (await miniflare.unsafeGetDirectURL('router-0')).toString().replace(/\/$/, '')
  const instances = await Promise.all(
    workers.map(async (w) => {
      const fetcher = await miniflare.getWorker(w.name)
      return (input: string, init?: RequestInit) => fetcher.fetch(input, init as never) as unknown as Promise<Response>
    }),
  )
  return { url, miniflare, instances, close: () => miniflare.dispose() }
}
