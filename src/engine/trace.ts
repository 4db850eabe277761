/**
 * The decision trace of one request: which deployment served it and why, and why each earlier attempt was
 * abandoned. Written to response headers (`x-router-*`) and to one structured log line per request.
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import type { OutcomeClass, TokenUsage, UpstreamResult } from '../routing/types'
import type { Operation } from '../upstream/bedrock'
import type { FailoverEvent, RequestEvent, RequestOutcomeKind } from '../stats/rollup'
import type { EngineContext, EngineRequest, PolicyTrace } from './outcome'

/** Where a finished request's accounting event goes (the isolate's StatsRecorder). */
export type TraceSink = (event: RequestEvent, failovers: FailoverEvent[]) => void

/** A request's trace: who asked and which policies applied, its accounting sink and log sampling from the context. */
export function traceFor(request: Omit<EngineRequest, 'operation'>, operation: Operation, ctx: EngineContext, policy: PolicyTrace | undefined = request.policy): RequestTrace {
  const { client, frontDoor, endUser, tags } = request
  return new RequestTrace(request.pool, operation, request.requestedModel, { client, team: request.identity?.team, frontDoor, endUser, tags, policy }, sinkOf(ctx), logSampleOf(ctx.env))
}

/** The sink of an engine context: its recorder, kept alive with the request's waitUntil. */
function sinkOf(ctx: EngineContext): TraceSink | undefined {
  const stats = ctx.stats
  return stats ? (event, failovers) => stats.record(event, failovers, ctx.waitUntil, { env: ctx.env, traceparent: ctx.traceparent }) : undefined
}

/**
 * The share of plain successes whose log line is written (ROUTER_LOG_SAMPLE, 0..1, default 1): anything else — an
 * error, a throttle, a failover, a cancellation — is always logged. Lines of sampled successes carry `sampleRate`,
 * so counts can be re-weighted; the accounting (/stats) counts every request whatever the rate.
 */
function logSampleOf(env: { ROUTER_LOG_SAMPLE?: unknown } | undefined): number {
  const rate = Number(env?.ROUTER_LOG_SAMPLE ?? 1)
  return Number.isFinite(rate) ? Math.min(1, Math.max(0, rate)) : 1
}

/** Tags kept per request (bounded: accounting rows are per combination of tags). */
const MAX_TAGS = 10

/** Every header `finish` may set (CORS exposes them to pages). */
export const TRACE_HEADERS = [
  'x-router-deployment',
  'x-router-region',
  'x-router-model',
  'x-router-pool',
  'x-router-strategy',
  'x-router-reason',
  'x-router-attempts',
  'x-router-failovers',
  'x-router-invoked-model',
  'x-router-overhead-ms',
  'x-router-queued-ms',
  'x-router-fail-fast',
  'x-router-cost-usd',
  'x-router-rule',
  'x-router-arm',
  'x-router-custom',
  'x-router-template',
  'x-router-guardrail',
  'x-router-service-tier',
  'x-router-cache',
  'x-router-cascade',
  'x-router-affinity',
  'server-timing',
] as const

/** Who sent a request and how, for the log line (never a secret). */
export interface TraceIdentity {
  /** The client (key name, token subject). */
  client?: string
  /** Its team, when it has one. */
  team?: string
  /** The front door it came through: bedrock, openai, … */
  frontDoor?: string
  /** The end user the client named (OpenAI `user`). */
  endUser?: string
  /** Tags for accounting (Bedrock `requestMetadata`, OpenAI `metadata`). */
  tags?: Record<string, string>
  /** The policies that applied (rule, experiment arm, custom strategy). */
  policy?: PolicyTrace
}

export interface AbandonedAttempt {
  deployment: string
  modelId: string
  region: string
  class: OutcomeClass
  errorType?: string
  status: number
}

export class RequestTrace {
  readonly started = Date.now()
  readonly attempts: AbandonedAttempt[] = []
  private servedBy?: { deployment: DeploymentConfig; reason: string; latencyMs: number; at: number; applied: { prompt?: string; guardrail?: string; serviceTier?: string }; affinity?: string }
  private overheadMs?: number
  private failFast = false
  private queuedMs = 0
  /** Time spent waiting on upstream in abandoned attempts. */
  private upstreamMs = 0
  private outcome?: { result: UpstreamResult; usage?: TokenUsage; costUsd?: number; invokedModelId?: string; cancelled?: boolean; usageEstimated?: boolean; stopReason?: string }
  private status = 0
  private logged = false

  constructor(
    private readonly pool: PoolConfig,
    private readonly operation: Operation,
    private readonly requestedModel: string,
    private readonly who: TraceIdentity = {},
    private readonly sink?: TraceSink,
    private readonly logSample = 1,
  ) {}

  /** What the answer cost, once known (USD). */
  get costUsd(): number | undefined {
    return this.outcome?.costUsd
  }

  /** The id of the deployment that served. */
  get servedDeployment(): string | undefined {
    return this.servedBy?.deployment.id
  }

  /** The model ID of the deployment that served (for a prompt router, the router's ARN). */
  get servedModel(): string | undefined {
    return this.servedBy?.deployment.modelId
  }

  abandoned(deployment: DeploymentConfig, result: UpstreamResult, upstreamMs = 0) {
    this.upstreamMs += upstreamMs
    this.attempts.push({ deployment: deployment.id, modelId: deployment.modelId, region: deployment.region, class: result.class, errorType: result.errorType, status: result.status })
  }

  queued(ms: number) {
    this.queuedMs += ms
  }

  /**
   * `applied`: the prompt and guardrail the deployment's body was given (src/policy/prompt.ts); `affinity`: how the
   * prompt-cache affinity went (`hit`, `new`, `spill: …`; src/routing/affinity.ts).
   */
  served(deployment: DeploymentConfig, reason: string, latencyMs: number, applied: { prompt?: string; guardrail?: string; serviceTier?: string } = {}, affinity?: string) {
    this.servedBy = { deployment, reason, latencyMs, at: Date.now(), applied, affinity }
  }

  completed(result: UpstreamResult, usage?: TokenUsage, costUsd?: number, invokedModelId?: string, cancelled?: boolean, usageEstimated?: boolean, stopReason?: string) {
    this.outcome = { result, usage, costUsd, invokedModelId, cancelled, usageEstimated, stopReason }
  }

  /** `use1=throttled:ThrottlingException, usw2=timeout` */
  summary(): string {
    return this.attempts.map((a) => `${a.deployment}=${a.class}${a.errorType ? `:${a.errorType}` : ''}`).join(', ')
  }

  /** Adds the trace headers to a response; logs now unless the response is a stream still running. */
  finish(res: Response, opts: { logNow?: boolean; failFast?: boolean } = {}): Response {
    const h = res.headers
    h.set('x-router-pool', this.pool.name)
    h.set('x-router-strategy', this.pool.strategy)
    h.set('x-router-attempts', String(this.attempts.length + (this.servedBy ? 1 : 0)))
    if (this.attempts.length) h.set('x-router-failovers', this.summary())
    if (this.servedBy) {
      h.set('x-router-deployment', this.servedBy.deployment.id)
      h.set('x-router-region', this.servedBy.deployment.region)
      h.set('x-router-model', this.servedBy.deployment.modelId)
      h.set('x-router-reason', this.servedBy.reason)
    }
    if (this.outcome?.invokedModelId) h.set('x-router-invoked-model', this.outcome.invokedModelId)
    // What the answer cost, from its real usage (streams: in their trailing x-router-accounting comment and the log).
    if (this.outcome?.costUsd !== undefined) h.set('x-router-cost-usd', String(Number(this.outcome.costUsd.toPrecision(6))))
    if (this.queuedMs) h.set('x-router-queued-ms', String(this.queuedMs))
    const policy = this.who.policy
    if (policy?.rule) h.set('x-router-rule', policy.rule)
    if (policy?.arm) h.set('x-router-arm', policy.arm)
    if (policy?.custom) h.set('x-router-custom', policy.custom)
    if (policy?.cache) h.set('x-router-cache', policy.cache)
    if (policy?.cascade) h.set('x-router-cascade', policy.cascade)
    if (this.servedBy?.applied.prompt) h.set('x-router-template', this.servedBy.applied.prompt)
    if (this.servedBy?.applied.guardrail) h.set('x-router-guardrail', this.servedBy.applied.guardrail)
    if (this.servedBy?.affinity) h.set('x-router-affinity', this.servedBy.affinity)
    if (this.servedBy?.applied.serviceTier) h.set('x-router-service-tier', this.servedBy.applied.serviceTier)
    if (opts.failFast) h.set('x-router-fail-fast', 'true')
    this.failFast = Boolean(opts.failFast)
    const upstream = this.upstreamMs + (this.servedBy?.latencyMs ?? 0)
    const overhead = Math.max(0, Date.now() - this.started - upstream - this.queuedMs)
    h.set('x-router-overhead-ms', String(overhead))
    this.overheadMs = overhead
    // The same split for browsers' devtools and RUM tools (for a stream, upstream is the time to its first content).
    h.set('server-timing', `router;dur=${overhead}, upstream;dur=${upstream}${this.queuedMs ? `, queue;dur=${this.queuedMs}` : ''}`)
    this.status = res.status
    if (opts.logNow !== false) this.log()
    return res
  }

  log() {
    if (this.logged) return
    this.logged = true
    const s = this.servedBy
    const o = this.outcome
    this.account()
    const plain = this.attempts.length === 0 && this.outcomeKind() === 'success'
    if (plain && this.logSample < 1 && Math.random() >= this.logSample) return
    console.log(
      JSON.stringify({
        msg: 'request',
        pool: this.pool.name,
        strategy: this.pool.strategy,
        operation: this.operation,
        model: this.requestedModel,
        frontDoor: this.who.frontDoor,
        client: this.who.client,
        team: this.who.team,
        endUser: this.who.endUser,
        tags: this.who.tags,
        rule: this.who.policy?.rule,
        arm: this.who.policy?.arm,
        custom: this.who.policy?.custom,
        cache: this.who.policy?.cache,
        cascade: this.who.policy?.cascade,
        status: this.status,
        deployment: s?.deployment.id,
        region: s?.deployment.region,
        reason: s?.reason,
        attempts: this.attempts.length + (s ? 1 : 0),
        failovers: this.attempts,
        queuedMs: this.queuedMs || undefined,
        firstByteMs: s?.latencyMs,
        totalMs: Date.now() - this.started,
        outcome: o?.result.class,
        error: o && o.result.class !== 'success' ? o.result.message : undefined,
        cancelled: o?.cancelled || undefined,
        usage: o?.usage,
        usageEstimated: o?.usageEstimated || undefined,
        costUsd: o?.costUsd,
        invokedModelId: o?.invokedModelId,
        stopReason: o?.stopReason,
        template: s?.applied.prompt,
        guardrail: s?.applied.guardrail,
        affinity: s?.affinity,
        serviceTier: s?.applied.serviceTier,
        sampleRate: plain && this.logSample < 1 ? this.logSample : undefined,
      }),
    )
  }

  /** How the request ended, for accounting. */
  outcomeKind(): RequestOutcomeKind {
    const o = this.outcome
    if (o?.cancelled || this.status === 499) return 'cancelled'
    if (this.servedBy && (o?.result.class ?? 'success') === 'success' && this.status < 400) return 'success'
    if (this.status === 429) return 'throttled'
    if (this.status === 503 && !this.servedBy && !this.failFast) return 'unavailable'
    if (o?.result.class === 'client' || (this.status >= 400 && this.status < 500)) return 'client-error'
    return 'upstream-error'
  }

  /** The accounting event (stats/rollup.ts) to the sink: never a prompt, never a secret. */
  private account() {
    if (!this.sink) return
    const s = this.servedBy
    const o = this.outcome
    const now = Date.now()
    const tags = Object.entries(this.who.tags ?? {})
      .slice(0, MAX_TAGS)
      .map(([k, v]) => `${k.slice(0, 64)}=${String(v).slice(0, 128)}`)
    if (this.who.endUser) tags.push(`user=${this.who.endUser.slice(0, 128)}`)
    const served = s && o?.result.class === 'success' ? s.deployment.id : undefined
    const failovers: FailoverEvent[] = this.attempts.map((a) => ({ at: now, pool: this.pool.name, from: a.deployment, class: a.class, errorType: a.errorType, servedBy: served }))
    this.sink(
      {
        at: now,
        pool: this.pool.name,
        operation: this.operation,
        requestedModel: this.requestedModel,
        status: this.status,
        errorType: o && o.result.class !== 'success' ? o.result.errorType : undefined,
        deployment: s?.deployment.id,
        reason: s?.reason,
        model: o?.invokedModelId ?? s?.deployment.modelId,
        client: this.who.client,
        team: this.who.team,
        frontDoor: this.who.frontDoor,
        arm: this.who.policy?.arm,
        tags,
        outcome: this.outcomeKind(),
        abandoned: this.attempts.map((a) => ({ deployment: a.deployment, model: a.modelId, class: a.class })),
        throttled: o?.result.class === 'throttled',
        failFast: this.failFast,
        latencyMs: now - this.started,
        ttftMs: s && this.operation.endsWith('stream') ? s.at - this.started : undefined,
        overheadMs: this.overheadMs,
        usage: o?.usage,
        costUsd: o?.costUsd,
        guardrailIntervened: o?.stopReason === 'guardrail_intervened',
        cacheHit: this.who.policy?.cache === 'hit',
        ...(this.who.policy?.escalationReason && !this.status ? { escalated: true, escalationReason: this.who.policy.escalationReason } : {}),
        ...cascadeSavings(this.who.policy, o?.costUsd),
      },
      failovers,
    )
  }
}

/**
 * The answer a cascade returned (its policy says what came before): what the top tier would have cost for it — its
 * own cost when the top tier answered — and what the cascade spent in all, so /stats can subtract.
 */
function cascadeSavings(policy: PolicyTrace | undefined, costUsd: number | undefined): { cascadeTopTierUsd?: number; cascadeSpentUsd?: number } {
  if (policy?.cascadeEarlierUsd === undefined) return {}
  return { cascadeTopTierUsd: policy.cascadeTopTierUsd ?? costUsd ?? 0, cascadeSpentUsd: (costUsd ?? 0) + policy.cascadeEarlierUsd }
}

