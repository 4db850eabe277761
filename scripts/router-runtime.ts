/**
 * Runs the router the way it runs in production: the Workers bundle inside workerd (Miniflare), with the
 * environment as Worker vars. Used by `npm start`, the end-to-end tests and the benchmarks.
 */
import { build } from 'esbuild'
import { Log, LogLevel, Miniflare } from 'miniflare'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
let bundle: Promise<string> | undefined

/** The Workers bundle (ES module text), built once per process the way wrangler resolves packages. */
export function workerBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [`${root}/src/adapter/cloudflare-workers/index.ts`],
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
  }).then((r) => r.outputFiles[0].text)
  return bundle
}

export interface RouterProcess {
  url: string
  miniflare: Miniflare
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

export async function startRouter(opts: { vars: Record<string, string>; port?: number; host?: string; log?: boolean }): Promise<RouterProcess> {
  const miniflare = new Miniflare({
    modules: true,
    script: await workerBundle(),
    compatibilityDate: '2026-04-01',
    bindings: opts.vars,
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    log: opts.log ? new Log(LogLevel.INFO) : undefined,
    // Without `log`, the worker's own log lines are drained silently (tests, benchmarks).
    handleRuntimeStdio: opts.log
      ? undefined
      : (stdout, stderr) => {
          stdout.resume()
          stderr.resume()
        },
  })
  const url = (await miniflare.ready).toString().replace(/\/$/, '')
  return { url, miniflare, close: () => miniflare.dispose() }
}
