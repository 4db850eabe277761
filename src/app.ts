/**
 * The router as a Hono app, independent of the runtime. An adapter (Cloudflare Workers, Deno) creates it
 * with the state store its platform offers.
 */
import { Hono } from 'hono/tiny'
import type { ClientIdentity } from './auth/identity'
import type { RouterEnv } from './env'
import { bedrockError } from './front-doors/bedrock/errors'
import { anthropicRoutes } from './front-doors/anthropic/routes'
import { bedrockRoutes } from './front-doors/bedrock/routes'
import { openAiRoutes } from './front-doors/openai/routes'
import { corsForBrowsers } from './routes/cors'
import { healthRoutes } from './routes/health'
import { dashboardRoutes } from './routes/dashboard'
import { metricsRoutes } from './routes/metrics'
import { playgroundRoutes } from './routes/playground'
import { statsRoutes } from './routes/stats'
import { tokenRoutes } from './routes/tokens'
import { drainUnreadBody } from './routes/request-body'
import { MemoryResponseCache } from './cache/memory'
import type { ResponseCache } from './cache/types'
import type { CustomStrategyFunction } from './policy/custom'
import type { StateStore } from './state/types'
import { recorderFor, type StatsRecorder } from './stats/recorder'

export interface AppOptions {
  /** The state store for this request's environment (may return a per-isolate singleton). */
  stateStore: (env: RouterEnv) => StateStore
  /** Custom strategies as functions, by name (pools name them in `custom.function`): the in-process router's. */
  strategies?: Record<string, CustomStrategyFunction>
  /** Where pools with `cache` keep answers; default: this isolate's memory. */
  responseCache?: (env: RouterEnv) => ResponseCache
}

export type AppEnv = { Bindings: RouterEnv; Variables: { store: StateStore; stats: StatsRecorder; client: string; identity: ClientIdentity; strategies?: Record<string, CustomStrategyFunction>; responseCache: ResponseCache } }

/** How often an isolate sends its accounting (ROUTER_STATS_FLUSH_MS; tests shorten it). */
function flushMsOf(env: RouterEnv | undefined): number | undefined {
  const ms = Number(env?.ROUTER_STATS_FLUSH_MS)
  return Number.isFinite(ms) && ms > 0 ? ms : undefined
}

export function createApp(options: AppOptions) {
  const app = new Hono<AppEnv>()
  const memoryCache = new MemoryResponseCache()
  // Outermost, so it also runs after CORS, auth and not-found answers: keeps keep-alive connections usable.
  app.use('*', drainUnreadBody)
  app.use('*', async (c, next) => {
    const store = options.stateStore(c.env ?? {})
    c.set('store', store)
    c.set('stats', recorderFor(store, flushMsOf(c.env)))
    if (options.strategies) c.set('strategies', options.strategies)
    c.set('responseCache', options.responseCache?.(c.env ?? {}) ?? memoryCache)
    await next()
  })
  app.use('*', corsForBrowsers)
  app.route('/', healthRoutes)
  app.route('/', tokenRoutes)
  app.route('/', playgroundRoutes)
  app.route('/', statsRoutes)
  app.route('/', dashboardRoutes)
  app.route('/', metricsRoutes)
  // Front doors: each a folder under front-doors/, mounted here with its own auth and error shape.
  app.route('/', bedrockRoutes)
  // Before the OpenAI door, whose /v1/* catch-all answers unknown /v1 paths.
  app.route('/', anthropicRoutes)
  app.route('/', openAiRoutes)
  app.notFound((c) => bedrockError(404, 'UnknownOperationException', `No route for ${c.req.method} ${new URL(c.req.url).pathname}`))
  app.onError((err) => {
    console.error(JSON.stringify({ msg: 'unhandled error', error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }))
    return bedrockError(500, 'InternalServerException', 'The router failed to process the request.')
  })
  return app
}
