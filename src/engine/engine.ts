/**
 * The engine: routes one Converse request over a pool and returns a typed outcome, for any front door.
 * The attempt loop asks the state store for a deployment (one round trip, which also records the previous
 * attempt's outcome), sends, and on a failover-class outcome tries another deployment at once — never the same
 * one twice, bounded by the pool's maxAttempts and deadline. Client errors fail fast and are relayed as is.
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { failoverAllowed } from '../routing/classify'
import { estimateNativeRequest, estimateRequest } from '../routing/estimate'
import { affinityOf, type AffinityHint } from '../routing/affinity'
import { cacheAffinityHint } from '../routing/cache-keys'
import { reservedUsd } from '../routing/budget'
import { costUsd } from '../routing/cost'
import { applyGuardrail, applyPrompt, guardrailHeaders } from '../policy/prompt'
import { adaptRequestFor } from '../routing/overrides'
import type { AttemptOutcome, Decision, RequestEstimate, Reservation, TokenUsage, UpstreamResult } from '../routing/types'
import { isInvoke, isStreaming } from '../upstream/bedrock'
import { credentialHint, resolveCredentials } from '../upstream/credentials'
import { attempt, CLIENT_GONE, type AttemptFailure } from './attempt'
import { CLIENT_WINDOW, clientLimitPools } from './client-limits'
import { converseEventStream } from './converse-stream'
import type { EngineContext, EngineRequest, Outcome, Rejected } from './outcome'
import { ReservationLedger } from './reservations'
import { RequestTrace, traceFor } from './trace'

/** An attempt with less time left than this is not started: it could only time out and blame the deployment. */
const MIN_ATTEMPT_MS = 100

export async function route(request: EngineRequest, ctx: EngineContext): Promise<Outcome> {
  const limit = new ClientLimit(request, ctx)
  let outcome: Outcome
  try {
    outcome = await routeAttempts(request, ctx, limit)
  } catch (e) {
    limit.release()
    throw e
  }
  // The client's own window (if it has limits) is settled once: from real usage, or released when nothing was served.
  if (outcome.kind === 'served') limit.settle(outcome.usage, outcome.costUsd)
  else if (outcome.kind !== 'streaming') limit.release()
  return outcome
}

/**
 * A client's limit windows (client-limits.ts: its own, its team's), held for the whole request: acquired in parallel
 * with the first routing decision, settled exactly once with the request's usage and cost.
 */
class ClientLimit {
  private readonly windows: Array<{ pool: PoolConfig; ledger: ReservationLedger; held?: Reservation }>

  constructor(request: EngineRequest, ctx: EngineContext) {
    this.windows = clientLimitPools(request.identity).map((pool) => ({ pool, ledger: new ReservationLedger(ctx.store, pool, ctx.waitUntil) }))
  }

  /**
   * The first refusal among the client's windows, if any (the others are given back). A budget holds the most the
   * request may cost on any deployment of its pool, since the routing decision made in parallel is not known yet.
   */
  async acquire(ctx: EngineContext, pool: PoolConfig, estimate: RequestEstimate): Promise<{ refusal: Extract<Decision, { kind: 'reject' }>; whose: string } | undefined> {
    if (this.windows.length === 0) return undefined
    const { family: _family, affinity: _affinity, ...plain } = estimate
    let most = 0
    for (const d of pool.deployments) most = Math.max(most, reservedUsd(d, estimate))
    const decisions = await Promise.all(
      this.windows.map((w) =>
        ctx.store.acquire(w.pool, { ...plain, costUsd: most }, []).then((d) => {
          if (d.kind === 'dispatch') w.held = d.reservation
          return d
        }),
      ),
    )
    const i = decisions.findIndex((d) => d.kind === 'reject')
    if (i < 0) return undefined
    this.release()
    const name = this.windows[i].pool.name
    return { refusal: decisions[i] as Extract<Decision, { kind: 'reject' }>, whose: name.startsWith('client:team:') ? `its team ${name.slice(12)}'s` : 'its own' }
  }

  settle(usage: TokenUsage | undefined, costUsd: number | undefined) {
    for (const w of this.windows) {
      if (!w.held) continue
      w.ledger.settle({ deploymentId: CLIENT_WINDOW, reservation: w.held, result: { class: 'success', status: 200 }, usage, costUsd: costUsd ?? 0 })
      w.held = undefined
    }
  }

  release() {
    for (const w of this.windows) {
      if (!w.held) continue
      w.ledger.settle({ deploymentId: CLIENT_WINDOW, reservation: w.held, result: { ...CLIENT_GONE, message: 'nothing served' }, costUsd: 0 })
      w.held = undefined
    }
  }
}

/**
 * Prompt-cache affinity keys: an explicit session (the front door's, else the pool's requestMetadata key among the
 * tags), else the prompt's cache breakpoints — Converse `cachePoint`s, or `cache_control` in a Claude native body.
 */
function affinityHintFor(request: EngineRequest, nativeFamily: string | undefined): AffinityHint | undefined {
  const settings = affinityOf(request.pool)
  if (!settings.enabled) return undefined
  const session = request.session ?? request.tags?.[settings.sessionMetadataKey]
  if (!isInvoke(request.operation)) return cacheAffinityHint(request.body, 'converse', session, settings.sessionTtlMs)
  if (session || nativeFamily === 'anthropic') return cacheAffinityHint(request.body, 'anthropic', session, settings.sessionTtlMs)
  return undefined
}

async function routeAttempts(request: EngineRequest, ctx: EngineContext, limit: ClientLimit): Promise<Outcome> {
  const { pool, operation, signal } = request
  const trace = traceFor(request, operation, ctx)
  const deadline = trace.started + pool.timeoutMs
  const origin = request.origin ?? originDeployment(pool, request.requestedModel)
  const invoke = isInvoke(operation)
  // A native (InvokeModel) body can only go to deployments of the family it is written for.
  const estimate: RequestEstimate = {
    ...(invoke ? estimateNativeRequest(request.body, isStreaming(operation), request.nativeFamily ?? origin.family) : estimateRequest(request.body, isStreaming(operation))),
    ...request.routing,
  }
  const affinity = affinityHintFor(request, estimate.family)
  if (affinity) estimate.affinity = affinity
  const bodies = new BodyCache(request, origin)
  // The client's own tier wins; else the pool's default; after a throttle, Priority when the pool says so.
  const clientTier = serviceTierOf(request)
  const poolTier = pool.serviceTier?.default === 'default' ? undefined : pool.serviceTier?.default
  let tier = clientTier ?? poolTier
  let escalated = false
  const cost = (deployment: DeploymentConfig, usage: TokenUsage | undefined, invokedModelId?: string, attemptTier = tier) => (usage ? costUsd(deployment, usage, invokedModelId, attemptTier) : undefined)
  const ledger = new ReservationLedger(ctx.store, pool, ctx.waitUntil)
  const tried: string[] = []
  let previous: AttemptOutcome | undefined

  // When the client goes away the runtime may cancel this request's continuations: release at once.
  const onClientGone = () => ledger.release('the client went away')
  signal?.addEventListener('abort', onClientGone, { once: true })
  const cancelled = (): Outcome => ({ kind: 'cancelled', trace })
  const rejected = (r: Omit<Rejected, 'kind' | 'trace'>): Outcome => ({ kind: 'rejected', ...r, trace })

  try {
    for (let n = 0; n < pool.maxAttempts && deadline - Date.now() > MIN_ATTEMPT_MS; n++) {
      if (signal?.aborted) {
        if (previous) ledger.settle(previous)
        return cancelled()
      }
      const [decision, clientWindow] = await Promise.all([
        ctx.store.acquire(pool, estimate, tried, ledger.handOver(previous)),
        n === 0 ? limit.acquire(ctx, pool, estimate) : undefined,
      ])
      previous = undefined
      if (clientWindow) {
        if (decision.kind === 'dispatch') {
          ledger.hold(decision.deploymentId, decision.reservation)
          ledger.release('the client is over its own limit')
        }
        return rejected({
          cause: 'client-limit',
          status: 429,
          errorType: 'ThrottlingException',
          message: `Too many requests for ${request.identity?.kind ?? 'client'} ${request.identity?.name ?? ''}: ${clientWindow.whose} ${clientWindow.refusal.reason.replace(/^.*: window: (its )?/, '')}.`,
          retryAfterMs: clientWindow.refusal.retryAfterMs,
        })
      }
      // Nothing left to try after failed attempts: say how the attempts failed (throttled, unavailable) rather than
      // only that every deployment has been tried.
      if (decision.kind === 'reject' && decision.status === 503 && tried.length > 0) return exhausted(request, trace)
      if (decision.kind === 'reject') {
        return rejected({
          cause: decision.status === 429 ? 'capacity' : 'unavailable',
          status: decision.status,
          errorType: decision.errorType,
          message: rejectMessage(decision.status, decision.reason, trace),
          retryAfterMs: decision.retryAfterMs,
        })
      }
      const deployment = pool.deployments.find((d) => d.id === decision.deploymentId)
      if (!deployment) throw new Error(`routing chose unknown deployment ${decision.deploymentId}`)
      tried.push(deployment.id)
      ledger.hold(deployment.id, decision.reservation)
      if (signal?.aborted) {
        ledger.release('the client went away')
        return cancelled()
      }
      if (decision.notBefore !== undefined) {
        let wait = decision.notBefore - Date.now()
        if (decision.notBefore > deadline - MIN_ATTEMPT_MS) {
          if (decision.wait === 'pace') {
            wait = 0 // a pacing wait is a preference: with no time for it, send at once rather than refuse
          } else {
            // The queue for configured capacity is longer than this request may wait: give the slot back and answer now.
            ledger.release('queue wait exceeds the request deadline')
            return rejected({
              cause: 'capacity',
              status: 429,
              errorType: 'ThrottlingException',
              message: `Too many requests: the wait for configured capacity is longer than this request's deadline (${decision.reason}).`,
              retryAfterMs: decision.notBefore - Date.now(),
            })
          }
        }
        if (wait > 0 && !(await sleepUnlessAborted(wait, signal))) {
          ledger.release('the client left while queued')
          return cancelled()
        }
        trace.queued(Math.max(0, wait))
      }
      const credentials = resolveCredentials(ctx.env, deployment.credentials)
      if (!credentials) {
        const result: UpstreamResult = {
          class: 'misconfigured',
          status: 500,
          errorType: 'InternalServerException',
          message: `deployment ${deployment.id} has no upstream credentials: set ${credentialHint(deployment.credentials)}`,
        }
        trace.abandoned(deployment, result)
        previous = { deploymentId: deployment.id, reservation: decision.reservation, result }
        continue
      }
      const timeoutMs = Math.min(isStreaming(operation) ? pool.ttfbTimeoutMs : pool.attemptTimeoutMs, deadline - Date.now())
      // A tier the router chose (not the client's) goes into the body (Converse) or the tier header (InvokeModel).
      const routerTier = tier !== clientTier ? tier : undefined
      const body = invoke ? bodies.verbatim() : bodies.for(deployment, routerTier)
      const headers = invoke ? withTierHeader(bodies.headersFor(deployment), routerTier) : request.upstreamHeaders
      const attemptTier = tier
      // What the body was given (prompt, guardrail, a tier the router chose), for the trace of the attempt that serves.
      const applied = { ...bodies.notesFor(deployment), ...(routerTier ? { serviceTier: tierNote(routerTier, escalated) } : {}) }
      const outcome = await attempt({ deployment, credentials, operation, body, headers, timeoutMs, clientSignal: signal })

      if (outcome.ok && outcome.kind === 'converse') {
        const result: UpstreamResult = { class: 'success', status: 200 }
        const { usage, invokedModelId } = outcome
        const costUsd = cost(deployment, usage, invokedModelId, attemptTier)
        ledger.settle({ deploymentId: deployment.id, reservation: decision.reservation, result, usage, latencyMs: outcome.latencyMs, stream: false, invokedModelId, costUsd })
        trace.served(deployment, decision.reason, outcome.latencyMs, applied, decision.affinity)
        trace.completed(result, usage, costUsd, invokedModelId, undefined, undefined, outcome.stopReason)
        return { kind: 'served', body: outcome.body, contentType: outcome.contentType, bedrockHeaders: outcome.bedrockHeaders, usage, costUsd, invokedModelId, requestId: outcome.requestId, trace }
      }

      if (outcome.ok && outcome.kind === 'stream') {
        trace.served(deployment, decision.reason, outcome.latencyMs, applied, decision.affinity)
        const reservation = decision.reservation
        const events = converseEventStream(outcome, pool.streamIdleTimeoutMs, estimate.inputTokens, (summary) => {
          const costUsd = cost(deployment, summary.usage, summary.invokedModelId, attemptTier)
          if (summary.usage) limit.settle(summary.usage, costUsd)
          else limit.release()
          ledger.settle({ deploymentId: deployment.id, reservation, result: summary.result, usage: summary.usage, latencyMs: outcome.latencyMs, stream: true, invokedModelId: summary.invokedModelId, costUsd })
          trace.completed(summary.result, summary.usage, costUsd, summary.invokedModelId, summary.cancelled, summary.usageEstimated, summary.stopReason)
          trace.log()
        }, invoke, (usage, invokedModelId) => cost(deployment, usage, invokedModelId, attemptTier))
        return { kind: 'streaming', events, requestId: outcome.requestId, trace }
      }

      // The attempt failed before anything reached the client.
      const failure = outcome as AttemptFailure
      if (failure.result === CLIENT_GONE) {
        ledger.release('the client went away')
        return cancelled()
      }
      trace.abandoned(deployment, failure.result, failure.latencyMs)
      const attemptOutcome: AttemptOutcome = { deploymentId: deployment.id, reservation: decision.reservation, result: failure.result, latencyMs: failure.latencyMs, stream: isStreaming(operation) }
      if (!failoverAllowed(failure.result)) {
        ledger.settle(attemptOutcome)
        return { kind: 'failed', result: failure.result, relay: failure.relay, trace }
      }
      previous = attemptOutcome
      if (failure.result.class === 'throttled' && pool.serviceTier?.onThrottle === 'priority' && clientTier === undefined && tier !== 'priority' && !escalated) {
        // Priority has capacity of its own: the next attempts use it, and the throttled deployment may serve again there.
        escalated = true
        tier = 'priority'
        tried.pop()
      }
    }

    if (previous) ledger.settle(previous)
  } catch (e) {
    // A router error (not an upstream one) after a reservation: give it back, or its capacity stays held until
    // the window slides past; then the error goes on to the front door's 500.
    if (previous) ledger.settle(previous)
    ledger.release(`router error: ${e instanceof Error ? e.message : String(e)}`)
    throw e
  } finally {
    signal?.removeEventListener('abort', onClientGone)
  }
  return exhausted(request, trace)
}

/** Every attempt this request made failed upstream (or its deadline left no time for one): say so, with each attempt. */
function exhausted({ pool }: EngineRequest, trace: RequestTrace): Outcome {
  const allThrottled = trace.attempts.length > 0 && trace.attempts.every((a) => a.class === 'throttled')
  const retryAfterMs = allThrottled ? 1000 : pool.breaker.cooldownMs / 4
  const n = trace.attempts.length
  const attempts = `${n} attempt${n === 1 ? '' : 's'}${n < pool.deployments.length ? ` (maxAttempts ${pool.maxAttempts}, ${pool.deployments.length} deployments)` : ''}`
  if (allThrottled) {
    const message = `Throttled upstream on every attempt of pool ${pool.name}, ${attempts}: ${trace.summary()}.`
    return { kind: 'rejected', cause: 'exhausted', status: 429, errorType: 'ThrottlingException', message, retryAfterMs, trace }
  }
  const why = n > 0 ? `every attempt failed upstream, ${attempts}: ${trace.summary()}` : 'the request deadline left no time for an attempt'
  const message = `NO_MODELS_AVAILABLE: pool ${pool.name}: ${why}.`
  return { kind: 'rejected', cause: 'exhausted', status: 503, errorType: 'ServiceUnavailableException', message, retryAfterMs, trace }
}

/**
 * The deployment the client's request was written for: the one whose model ID it named, else the first primary.
 * Front doors translate for its model; the engine adapts the request when it fails over to another family.
 */
export function originDeployment(pool: EngineRequest['pool'], requestedModel: string): DeploymentConfig {
  return pool.deployments.find((d) => d.modelId === requestedModel) ?? pool.deployments.find((d) => !d.fallback) ?? pool.deployments[0]
}

/**
 * The body as sent upstream, once per deployment: verbatim when nothing must change, else adapted for the target's
 * model family, then given the pool's (or deployment's) prompt and guardrail (src/policy/prompt.ts).
 */
class BodyCache {
  private readonly adapted = new Map<string, string>()
  private readonly notes = new Map<string, { prompt?: string; guardrail?: string }>()
  private verbatimText?: string

  constructor(
    private readonly request: EngineRequest,
    private readonly origin: DeploymentConfig,
  ) {
    this.verbatimText = request.bodyText
  }

  /** The client's body as it came (InvokeModel bodies are never adapted: only their own family may serve them). */
  verbatim(): string {
    return (this.verbatimText ??= this.request.bodyText ?? JSON.stringify(this.request.body))
  }

  /** With `tier`: the same body with Converse's `serviceTier` set (a tier the router chose, not the client's). */
  for(target: DeploymentConfig, tier?: string): string {
    if (!tier) return this.forTarget(target)
    const key = `${target.id}|${tier}`
    let text = this.adapted.get(key)
    if (text === undefined) {
      text = JSON.stringify({ ...(JSON.parse(this.forTarget(target)) as Record<string, unknown>), serviceTier: { type: tier } })
      this.adapted.set(key, text)
    }
    return text
  }

  private forTarget(target: DeploymentConfig): string {
    const { body, pool } = this.request
    const prompt = target.prompt ?? pool.prompt
    const guardrail = target.guardrail ?? pool.guardrail
    if (target.family === this.origin.family && !target.override && !prompt && !guardrail) return this.verbatim()
    let text = this.adapted.get(target.id)
    if (text === undefined) {
      const adapted = (target.family === this.origin.family && !target.override ? body : adaptRequestFor(body, this.origin, target)) as Record<string, unknown>
      const withPrompt = applyPrompt(adapted, prompt, target.family, this.request.tags ?? {})
      const withGuardrail = applyGuardrail(withPrompt.body, guardrail, isStreaming(this.request.operation))
      text = withGuardrail.body === body ? this.verbatim() : JSON.stringify(withGuardrail.body)
      this.adapted.set(target.id, text)
      this.notes.set(target.id, { prompt: withPrompt.applied, guardrail: withGuardrail.applied })
    }
    return text
  }

  /** InvokeModel: the guardrail headers the target's policy adds to the client's. */
  headersFor(target: DeploymentConfig): Record<string, string> | undefined {
    return guardrailHeaders(target.guardrail ?? this.request.pool.guardrail, this.request.upstreamHeaders)
  }

  /** What the target's body was given (prompt, guardrail), for the trace. */
  notesFor(target: DeploymentConfig): { prompt?: string; guardrail?: string } {
    const guardrail = target.guardrail ?? this.request.pool.guardrail
    return this.notes.get(target.id) ?? (guardrail && isInvoke(this.request.operation) ? { guardrail: `${guardrail.identifier}:${guardrail.version}` } : {})
  }
}

/** A router-made refusal: the hard reason, deployment by deployment (from decide), and what this request tried. */
function rejectMessage(status: number, reason: string, trace: RequestTrace): string {
  const tried = trace.summary()
  if (status === 429) return `Too many requests: ${reason}.${tried ? ` Tried: ${tried}.` : ''}`
  return `NO_MODELS_AVAILABLE: ${reason}.${tried ? ` Tried: ${tried}.` : ''}`
}

/** `priority (after a throttle)` or the pool's default tier, for x-router-service-tier and the log. */
function tierNote(tier: string, escalated: boolean): string {
  return escalated && tier === 'priority' ? 'priority (after a throttle)' : tier
}

/** InvokeModel: the tier header a router-chosen tier sets. */
function withTierHeader(headers: Record<string, string> | undefined, tier: string | undefined): Record<string, string> | undefined {
  return tier ? { ...headers, 'x-amzn-bedrock-service-tier': tier } : headers
}

/** The service tier the request asks for (Converse `serviceTier.type`, InvokeModel's X-Amzn-Bedrock-Service-Tier). */
function serviceTierOf(request: EngineRequest): string | undefined {
  const st = request.body.serviceTier as { type?: unknown } | undefined
  const tier = typeof st?.type === 'string' ? st.type : request.upstreamHeaders?.['x-amzn-bedrock-service-tier']
  return typeof tier === 'string' ? tier.toLowerCase() : undefined
}

/** Waits `ms`; false if the client went away first. */
function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
