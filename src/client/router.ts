/**
 * `createRouter`: the router inside a process — a Lambda, a script, an agent — with no server. It is the worker's own
 * app (every front door, the engine, the routing core, signing, cost and accounting) with state in this process's
 * memory, called in-process: `converse` and `converseStream` take and return the AWS SDK's Converse shapes,
 * `fetch` takes any of the worker's HTTP requests (Bedrock, OpenAI, Anthropic). Limits and breakers hold for this
 * process only; for limits shared by many processes, run the router and point clients at it.
 */
import { createApp } from '../app'
import type { CustomStrategyFunction } from '../policy/custom'
import { ConfigError, parseRouterConfig } from '../config/schema'
import { MemoryStateStore } from '../state/memory'
import { recorderFor, type StatsRecorder } from '../stats/recorder'
import { aggregate, emptyCounters, summarize, type Dimension, type FailoverEvent, type RequestEvent, type StatsGroup, type StatsSummary } from '../stats/rollup'
import type { DeploymentSnapshot } from '../routing/types'
import { EventStreamFramer, type Frame } from '../wire/eventstream'
import { CredentialEnv, processEnv, type CredentialsOption } from './credentials'
import { errorOf, exceptionName, fromWire, metadataOf, RouterError, toWire, traceOf, type ResponseMetadata, type RouterTrace } from './shapes'

/** A deployment in the shorthand form (the multiplexer's `{ modelId, weight, isFallback }` works as is). */
export interface DeploymentInput {
  modelId: string
  /** Default: `options.region`, else AWS_REGION, else us-east-1. */
  region?: string
  id?: string
  weight?: number
  fallback?: boolean
  /** The multiplexer's name for `fallback`. */
  isFallback?: boolean
  rpm?: number
  tpm?: number
  [field: string]: unknown
}

export interface RouterOptions {
  /** The worker's configuration document (`pools`, `guardrails`): exactly what ROUTER_CONFIG holds. */
  config?: Record<string, unknown>
  /** Or one pool, named `default`, of these deployments (the multiplexer's shorthand). */
  deployments?: DeploymentInput[]
  /** The shorthand pool's strategy (default `weighted`). */
  strategy?: string
  /** The shorthand pool's other settings: maxAttempts, timeoutMs, breaker, … */
  pool?: Record<string, unknown>
  region?: string
  /** Upstream credentials (static, a Bedrock API key, an AWS SDK provider); default: the process environment. */
  credentials?: CredentialsOption
  /** Variables the router reads (credentials, ROUTER_LOG_SAMPLE, ROUTER_OTLP_ENDPOINT …); default: the process environment. */
  env?: Record<string, string | undefined>
  /** Custom strategies as functions, by the name a pool gives in `custom.function` (or the shorthand's `strategy: fn`). */
  strategies?: Record<string, CustomStrategyFunction>
}

/**
 * The SDK's ConverseCommandInput (a value of that type is accepted as is): `modelId` a pool name or a model ID of a
 * pool, optional with one pool. Typed loosely here so the package does not depend on the SDK's types.
 */
export interface ConverseInput {
  modelId?: string
  messages?: unknown
  system?: unknown
  inferenceConfig?: unknown
  toolConfig?: unknown
  guardrailConfig?: unknown
  additionalModelRequestFields?: unknown
  additionalModelResponseFieldPaths?: unknown
  promptVariables?: unknown
  requestMetadata?: unknown
  performanceConfig?: unknown
  serviceTier?: unknown
  outputConfig?: unknown
}
export type ConverseOutput = Record<string, any> & { $metadata: ResponseMetadata; $router: RouterTrace }
/** One ConverseStream event as the SDK yields it: `{ contentBlockDelta: {...} }`, `{ metadata: {...} }`, … */
export type ConverseStreamEvent = Record<string, any>
export interface ConverseStreamOutput {
  stream: AsyncIterable<ConverseStreamEvent>
  $metadata: ResponseMetadata
  $router: RouterTrace
}

export interface RequestOptions {
  signal?: AbortSignal
  /** Accounting tags (`x-router-tags`). */
  tags?: Record<string, string>
}

export interface DeploymentHealth {
  pool: string
  id: string
  modelId: string
  region: string
  fallback: boolean
  isHealthy: boolean
  /** Why it is not preferred now (ejected, paced, misconfigured, window-full, …). */
  reasons: string[]
  circuitState: DeploymentSnapshot['breaker']
  /** Health failures in a row. */
  failureCount: number
  /** Breaker window (the last minute by default): failures / outcomes. */
  errorRate: number | null
  /** Latency moving average, ms (Converse; streams: time to first byte). */
  avgResponseTimeMs: number | null
}

export interface HealthStatus {
  isHealthy: boolean
  timestamp: string
  totalModels: number
  healthyModels: number
  degradedModels: number
  unhealthyModels: number
  deployments: DeploymentHealth[]
}

export interface RouterStats extends StatsSummary {
  byDeployment: StatsGroup[]
  byModel: StatsGroup[]
}

export type RouterEventName = 'request' | 'failover'
type Listener<E extends RouterEventName> = E extends 'request' ? (event: RequestEvent) => void : (event: FailoverEvent) => void

export interface Router {
  /** The model ID of the first pool's first primary deployment (what a model addressing the router by model ID names). */
  readonly defaultModel: string | undefined
  converse(input: ConverseInput, options?: RequestOptions): Promise<ConverseOutput>
  converseStream(input: ConverseInput, options?: RequestOptions): Promise<ConverseStreamOutput>
  countTokens(input: { modelId?: string; input: Record<string, unknown> }, options?: RequestOptions): Promise<{ inputTokens: number; $metadata: ResponseMetadata; $router: RouterTrace }>
  /** Any of the worker's requests, in process (e.g. `POST /v1/chat/completions`); the path's host is ignored. */
  fetch(request: Request): Promise<Response>
  getSimpleHealthCheck(): Promise<{ status: 'healthy' | 'unhealthy'; code: 200 | 503 }>
  getHealthStatus(): Promise<HealthStatus>
  /** Every pool has a deployment that can serve now. */
  isHealthy(): Promise<boolean>
  /** One deployment's health, by id or model ID. */
  getModelHealthStatus(id: string): Promise<DeploymentHealth | undefined>
  getCircuitBreakerStatus(): Promise<Record<string, { state: DeploymentSnapshot['breaker']; failureCount: number }>>
  /** Adds a deployment (the shorthand's fields) to a pool (the only one by default); returns its id. Validated first. */
  addModel(deployment: DeploymentInput, pool?: string): string
  /** Removes a deployment by id or model ID; false if there was none. */
  removeModel(id: string, pool?: string): boolean
  /** Forgets the stats gathered so far (routing state — windows, breakers — is kept). */
  resetStats(): Promise<void>
  /** Since the router was created: successes, throttles, failovers, fail-fast errors, latency percentiles, tokens, cost. */
  getStats(): Promise<RouterStats>
  /**
   * After each request (`request`: the decision — deployment and reason —, outcome, usage, cost, latency) and each
   * abandoned attempt (`failover`: which deployment, why, and where the request went instead).
   */
  on<E extends RouterEventName>(event: E, listener: Listener<E>): () => void
  /** Stops accepting requests; listeners are dropped. */
  destroy(): void
}

const SHORTHAND_POOL = 'default'

export function createRouter(options: RouterOptions): Router {
  let document = configDocument(options)
  let config = parseRouterConfig(document) // throws ConfigError with every problem, before any request
  let source = JSON.stringify(document)
  /** A new document, validated before it replaces the old one (state of removed deployments is dropped on use). */
  const reconfigure = (next: Record<string, unknown>) => {
    config = parseRouterConfig(next)
    document = next
    source = JSON.stringify(next)
  }
  const env = options.env ?? processEnv()
  const key = `in-process-${crypto.randomUUID()}`
  const credentials = new CredentialEnv(options.credentials)
  const store = new MemoryStateStore()
  const recorder: StatsRecorder = recorderFor(store, 1)
  const app = createApp({ stateStore: () => store, strategies: options.strategies })
  const listeners = { request: new Set<Listener<'request'>>(), failover: new Set<Listener<'failover'>>() }
  recorder.onEvent = (event, failovers) => {
    for (const l of listeners.request) safely(() => l(event))
    for (const f of failovers) for (const l of listeners.failover) safely(() => l(f))
  }
  let destroyed = false
  const pools = () => Object.keys(config.pools)
  const defaultPool = () => (pools().length === 1 ? pools()[0] : undefined)

  async function call(request: Request): Promise<Response> {
    if (destroyed) throw new RouterError('RouterDestroyed', 'This router was destroyed.', { status: 500, metadata: { httpStatusCode: 500, attempts: 0, totalRetryDelay: 0 } })
    const headers = new Headers(request.headers)
    headers.set('authorization', `Bearer ${key}`)
    headers.delete('x-api-key')
    const vars = { ...stringVars(env), ...(options.credentials ? await credentials.env() : {}), ROUTER_CONFIG: source, ROUTER_API_KEYS: key, ROUTER_STATS_FLUSH_MS: '1' }
    return app.fetch(new Request(request, { headers }), vars)
  }

  function post(path: string, body: unknown, opts: RequestOptions = {}, accept = 'application/json'): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept }
    if (opts.tags) headers['x-router-tags'] = Object.entries(opts.tags).map(([k, v]) => `${k}=${v}`).join(', ')
    return call(new Request(`http://router.local${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: opts.signal }))
  }

  function modelOf(modelId: string | undefined): string {
    const model = modelId ?? defaultPool()
    if (!model) throw new RouterError('ValidationException', `modelId is required: this router has several pools (${pools().join(', ')}).`, { status: 400, metadata: { httpStatusCode: 400, attempts: 0, totalRetryDelay: 0 } })
    return encodeURIComponent(model)
  }

  const health = async (): Promise<HealthStatus> => {
    const deployments: DeploymentHealth[] = []
    let everyPoolServes = true
    for (const pool of Object.values(config.pools)) {
      const snapshot = (await store.snapshot(pool)) as DeploymentSnapshot[]
      if (!snapshot.some((d) => d.usable)) everyPoolServes = false
      for (const d of snapshot) {
        const outcomes = d.recentSuccesses + d.recentFailures
        deployments.push({
          pool: pool.name,
          id: d.id,
          modelId: d.modelId,
          region: d.region,
          fallback: d.fallback,
          isHealthy: d.usable && d.breaker === 'closed',
          reasons: [...(d.reason ? [d.reason] : []), ...d.softReasons],
          circuitState: d.breaker,
          failureCount: d.consecutiveFailures,
          errorRate: outcomes ? d.recentFailures / outcomes : null,
          avgResponseTimeMs: d.latencyMs.converse ?? d.latencyMs.stream,
        })
      }
    }
    // Healthy: usable with a closed breaker; unhealthy: not usable now; degraded: usable but ejected or probing.
    const healthy = deployments.filter((d) => d.isHealthy).length
    const unhealthy = deployments.filter((d) => d.reasons.some((r) => r === 'misconfigured' || r === 'window-full' || r === 'budget-spent' || r === 'other-family')).length
    return {
      isHealthy: everyPoolServes,
      timestamp: new Date().toISOString(),
      totalModels: deployments.length,
      healthyModels: healthy,
      degradedModels: deployments.length - healthy - unhealthy,
      unhealthyModels: unhealthy,
      deployments,
    }
  }

  return {
    get defaultModel() {
      const first = Object.values(config.pools)[0]
      return (first?.deployments.find((d) => !d.fallback) ?? first?.deployments[0])?.modelId
    },

    async converse(input, opts) {
      const { modelId, ...body } = input
      const res = await post(`/model/${modelOf(modelId)}/converse`, toWire(body), opts)
      if (!res.ok) throw await errorOf(res)
      const trace = traceOf(res)
      return { ...(fromWire(await res.json()) as Record<string, unknown>), $metadata: metadataOf(res, trace), $router: trace }
    },

    async converseStream(input, opts) {
      const { modelId, ...body } = input
      const res = await post(`/model/${modelOf(modelId)}/converse-stream`, toWire(body), opts, 'application/vnd.amazon.eventstream')
      if (!res.ok) throw await errorOf(res)
      const trace = traceOf(res)
      return { stream: streamEvents(res, trace), $metadata: metadataOf(res, trace), $router: trace }
    },

    async countTokens(input, opts) {
      const res = await post(`/model/${modelOf(input.modelId)}/count-tokens`, { input: toWire(input.input) }, opts)
      if (!res.ok) throw await errorOf(res)
      const trace = traceOf(res)
      const body = (await res.json()) as { inputTokens: number }
      return { inputTokens: body.inputTokens, $metadata: metadataOf(res, trace), $router: trace }
    },

    fetch: call,

    async getSimpleHealthCheck() {
      return (await health()).isHealthy ? { status: 'healthy', code: 200 } : { status: 'unhealthy', code: 503 }
    },

    getHealthStatus: health,

    async isHealthy() {
      return (await health()).isHealthy
    },

    async getModelHealthStatus(id) {
      return (await health()).deployments.find((d) => d.id === id || d.modelId === id)
    },

    async getCircuitBreakerStatus() {
      return Object.fromEntries((await health()).deployments.map((d) => [d.id, { state: d.circuitState, failureCount: d.failureCount }]))
    },

    addModel(deployment, pool = defaultPool()) {
      const target = poolDocument(document, pool)
      const [entry] = (configDocument({ deployments: [deployment], region: options.region }).pools as Record<string, { deployments: unknown[] }>)[SHORTHAND_POOL].deployments
      reconfigure(withPool(document, pool!, { ...target, deployments: [...(target.deployments as unknown[]), entry] }))
      return (entry as { id: string }).id
    },

    removeModel(id, pool = defaultPool()) {
      const target = poolDocument(document, pool)
      const left = (target.deployments as Array<{ id?: string; modelId?: string }>).filter((d) => d.id !== id && d.modelId !== id)
      if (left.length === (target.deployments as unknown[]).length) return false
      reconfigure(withPool(document, pool!, { ...target, deployments: left }))
      return true
    },

    async resetStats() {
      await recorder.flush()
      store.clearStats()
    },

    async getStats() {
      await recorder.flush()
      const { rows } = await store.readStats(0, Date.now() + 1)
      const query = { from: 0, to: Date.now() + 1, bucket: 'total' as const }
      const [total] = aggregate(rows, { ...query, by: [] })
      const by = (dim: Dimension) => aggregate(rows, { ...query, by: [dim] }).filter((g) => g.keys[dim] !== '-')
      const { keys: _keys, ...summary } = total ?? { keys: {}, ...summarize(emptyCounters()) }
      return { ...summary, byDeployment: by('deployment'), byModel: by('model') }
    },

    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>
      set.add(listener)
      return () => void set.delete(listener)
    },

    destroy() {
      destroyed = true
      listeners.request.clear()
      listeners.failover.clear()
      recorder.onEvent = undefined
    },
  }
}

/** The config document: the worker's, or one pool from the shorthand. */
function configDocument(options: RouterOptions): Record<string, unknown> {
  if (options.config && options.deployments) throw new ConfigError(['give either config or deployments, not both'])
  if (options.config) return options.config
  if (!options.deployments?.length) throw new ConfigError(['deployments must list at least one deployment (or give config)'])
  const region = options.region ?? processEnv().AWS_REGION ?? 'us-east-1'
  const used = new Set<string>()
  const deployments = options.deployments.map((d, i) => {
    const { isFallback, fallback, id, ...rest } = d
    const r = d.region ?? region
    let name = id ?? `${d.modelId.split('/').pop()!.replace(/[^A-Za-z0-9._:-]/g, '-')}@${r}`.replace('@', '-').slice(0, 60)
    if (used.has(name)) name = `${name.slice(0, 56)}-${i}`
    used.add(name)
    return { ...rest, id: name, region: r, fallback: fallback ?? isFallback ?? false }
  })
  return { pools: { [SHORTHAND_POOL]: { strategy: options.strategy ?? 'weighted', ...options.pool, deployments } } }
}

function poolDocument(document: Record<string, unknown>, pool: string | undefined): Record<string, unknown> {
  const pools = document.pools as Record<string, Record<string, unknown>>
  if (!pool || !Object.hasOwn(pools, pool)) throw new ConfigError([pool ? `no pool named "${pool}"` : 'name the pool: this router has several'])
  return pools[pool]
}

function withPool(document: Record<string, unknown>, pool: string, next: Record<string, unknown>): Record<string, unknown> {
  return { ...document, pools: { ...(document.pools as Record<string, unknown>), [pool]: next } }
}

/** The event stream as the SDK's event objects; an exception frame (or a cut) is thrown, never a silent end. */
async function* streamEvents(res: Response, trace: RouterTrace): AsyncGenerator<ConverseStreamEvent> {
  const framer = new EventStreamFramer()
  const decoder = new TextDecoder()
  const reader = res.body!.getReader()
  const eventOf = (frame: Frame): ConverseStreamEvent => {
    const payload = frame.payload.length ? (JSON.parse(decoder.decode(frame.payload)) as Record<string, unknown>) : {}
    if (frame.messageType === 'exception' || frame.messageType === 'error') {
      const name = frame.exceptionType ? exceptionName(frame.exceptionType) : (frame.errorCode ?? 'InternalServerException')
      const status = name === 'ThrottlingException' ? 429 : name === 'ValidationException' ? 400 : 500
      throw new RouterError(name, String(payload.message ?? frame.errorMessage ?? 'the stream failed'), { status, metadata: metadataOf(res, trace), trace })
    }
    const { p: _padding, ...event } = payload
    return { [frame.eventType!]: fromWire(event) }
  }
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      for (const frame of framer.push(value)) yield eventOf(frame)
    }
    framer.end()
  } finally {
    reader.releaseLock()
  }
}

function stringVars(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string' && !k.startsWith('ROUTER_CONFIG') && k !== 'ROUTER_API_KEYS') out[k] = v
  return out
}

function safely(fn: () => void) {
  try {
    fn()
  } catch (e) {
    console.error(JSON.stringify({ msg: 'router listener failed', error: e instanceof Error ? e.message : String(e) }))
  }
}
