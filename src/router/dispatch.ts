/**
 * The attempt loop: ask the state store for a deployment (one round trip, which also records the previous
 * attempt's outcome), send, and on a failover-class outcome try another deployment at once — never the same
 * one twice, bounded by the pool's maxAttempts and deadline. Client errors fail fast and are relayed as is.
 */
import type { Operation } from '../bedrock/client'
import { credentialHint, resolveCredentials } from '../bedrock/credentials'
import { bedrockError } from '../bedrock/errors'
import type { DeploymentConfig, PoolConfig } from '../config/types'
import type { RouterEnv } from '../env'
import { failoverAllowed } from '../routing/classify'
import { costUsd } from '../routing/models'
import { adaptRequestFor } from '../routing/overrides'
import type { AttemptOutcome, RequestEstimate, Reservation, UpstreamResult } from '../routing/types'
import type { StateStore } from '../state/types'
import { attempt, CLIENT_GONE, type AttemptFailure } from './attempt'
import { clientStream, type StreamFormat } from './stream'
import { RequestTrace } from './trace'

/** An attempt with less time left than this is not started: it could only time out and blame the deployment. */
const MIN_ATTEMPT_MS = 100

export interface DispatchInput {
  env: RouterEnv
  pool: PoolConfig
  store: StateStore
  operation: Operation
  /** The model ID (or pool name) the client addressed, decoded. */
  requestedModel: string
  body: Record<string, unknown>
  bodyText: string
  estimate: RequestEstimate
  format: StreamFormat
  waitUntil: (promise: Promise<unknown>) => void
  clientSignal?: AbortSignal
  /** Who called (for logs and stats), never a secret. */
  client?: string
}

export async function dispatch(input: DispatchInput): Promise<Response> {
  const { pool, store, operation } = input
  const trace = new RequestTrace(pool, operation, input.requestedModel, input.client)
  const deadline = trace.started + pool.timeoutMs
  const origin = originDeployment(pool, input.requestedModel)
  const bodies = new Map<string, string>()
  const tried: string[] = []
  let previous: AttemptOutcome | undefined

  // Every reservation is settled exactly once: reported, or handed to the next acquire as `previous`.
  const settled = new WeakSet<object>()
  let inFlight: { deploymentId: string; reservation: Reservation } | undefined
  const report = (outcome: AttemptOutcome) => {
    if (outcome.reservation) {
      if (settled.has(outcome.reservation)) return
      settled.add(outcome.reservation)
    }
    input.waitUntil(store.report(pool, outcome).catch((e) => console.error(JSON.stringify({ msg: 'state report failed', error: String(e) }))))
  }
  const release = (deploymentId: string, reservation: Reservation, why: string) =>
    report({ deploymentId, reservation, result: { ...CLIENT_GONE, message: why } })
  // When the client goes away the runtime may cancel this request's continuations: release at once.
  const onClientGone = () => inFlight && release(inFlight.deploymentId, inFlight.reservation, 'the client went away')
  input.clientSignal?.addEventListener('abort', onClientGone, { once: true })
  const clientGone = () => trace.finish(bedrockError(499, 'RequestCancelled', 'The client closed the request.'))

  try {
    for (let n = 0; n < pool.maxAttempts && deadline - Date.now() > MIN_ATTEMPT_MS; n++) {
      if (input.clientSignal?.aborted) {
        if (previous) report(previous)
        return clientGone()
      }
      if (previous?.reservation) settled.add(previous.reservation)
      const decision = await store.acquire(pool, input.estimate, tried, previous)
      previous = undefined
      if (decision.kind === 'reject') {
        return trace.finish(
          bedrockError(decision.status, decision.errorType, rejectMessage(decision.status, decision.reason, trace), {
            'retry-after': String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000))),
          }),
        )
      }
      const deployment = pool.deployments.find((d) => d.id === decision.deploymentId)
      if (!deployment) throw new Error(`routing chose unknown deployment ${decision.deploymentId}`)
      tried.push(deployment.id)
      inFlight = { deploymentId: deployment.id, reservation: decision.reservation }
      if (input.clientSignal?.aborted) {
        release(deployment.id, decision.reservation, 'the client went away')
        return clientGone()
      }
      if (decision.notBefore !== undefined) {
        let wait = decision.notBefore - Date.now()
        if (decision.notBefore > deadline - MIN_ATTEMPT_MS) {
          if (decision.wait === 'pace') {
            wait = 0 // a pacing wait is a preference: with no time for it, send at once rather than refuse
          } else {
            // The queue for configured capacity is longer than this request may wait: give the slot back and answer now.
            release(deployment.id, decision.reservation, 'queue wait exceeds the request deadline')
            const retryAfter = String(Math.max(1, Math.ceil((decision.notBefore - Date.now()) / 1000)))
            return trace.finish(bedrockError(429, 'ThrottlingException', `Too many requests: the wait for configured capacity is longer than this request's deadline (${decision.reason}).`, { 'retry-after': retryAfter }))
          }
        }
        if (wait > 0 && !(await sleepUnlessAborted(wait, input.clientSignal))) {
          release(deployment.id, decision.reservation, 'the client left while queued')
          return clientGone()
        }
        trace.queued(Math.max(0, wait))
      }
      const credentials = resolveCredentials(input.env, deployment.credentials)
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
      const body = requestBodyFor(input, origin, deployment, bodies)
      const remaining = deadline - Date.now()
      const timeoutMs = Math.min(operation === 'converse' ? pool.attemptTimeoutMs : pool.ttfbTimeoutMs, remaining)
      const outcome = await attempt({ deployment, credentials, operation, body, timeoutMs, clientSignal: input.clientSignal })

      if (outcome.ok && outcome.kind === 'converse') {
        const result: UpstreamResult = { class: 'success', status: 200 }
        report({ deploymentId: deployment.id, reservation: decision.reservation, result, usage: outcome.usage, latencyMs: outcome.latencyMs, stream: false, invokedModelId: outcome.invokedModelId })
        trace.served(deployment, decision.reason, outcome.latencyMs)
        trace.completed(result, outcome.usage, cost(deployment, outcome.usage), outcome.invokedModelId)
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (outcome.requestId) headers['x-amzn-requestid'] = outcome.requestId
        if (outcome.invokedModelId) headers['x-router-invoked-model'] = outcome.invokedModelId
        return trace.finish(new Response(outcome.body, { status: 200, headers }))
      }

      if (outcome.ok && outcome.kind === 'stream') {
        trace.served(deployment, decision.reason, outcome.latencyMs)
        const reservation = decision.reservation
        const body = clientStream(outcome, input.format, pool.streamIdleTimeoutMs, input.estimate.inputTokens, (summary) => {
          report({ deploymentId: deployment.id, reservation, result: summary.result, usage: summary.usage, latencyMs: outcome.latencyMs, stream: true, invokedModelId: summary.invokedModelId })
          trace.completed(summary.result, summary.usage, cost(deployment, summary.usage), summary.invokedModelId, summary.cancelled, summary.usageEstimated)
          trace.log()
        })
        const headers: Record<string, string> =
          input.format === 'sse'
            ? { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }
            : { 'content-type': 'application/vnd.amazon.eventstream' }
        if (outcome.requestId) headers['x-amzn-requestid'] = outcome.requestId
        return trace.finish(new Response(body, { status: 200, headers }), { logNow: false })
      }

      // The attempt failed before anything reached the client.
      const failure = outcome as AttemptFailure
      if (failure.result === CLIENT_GONE) {
        release(deployment.id, decision.reservation, 'the client went away')
        return clientGone()
      }
      trace.abandoned(deployment, failure.result, failure.latencyMs)
      const attemptOutcome: AttemptOutcome = { deploymentId: deployment.id, reservation: decision.reservation, result: failure.result, latencyMs: failure.latencyMs, stream: operation !== 'converse' }
      if (!failoverAllowed(failure.result)) {
        report(attemptOutcome)
        return trace.finish(relayFailure(failure), { failFast: true })
      }
      previous = attemptOutcome
    }

    if (previous) report(previous)
  } finally {
    input.clientSignal?.removeEventListener('abort', onClientGone)
  }
  const allThrottled = trace.attempts.length > 0 && trace.attempts.every((a) => a.class === 'throttled')
  const retryAfter = String(allThrottled ? 1 : Math.max(1, Math.ceil(pool.breaker.cooldownMs / 1000 / 4)))
  // Every attempt this request made failed upstream (or its deadline left no time for one): say so, with each attempt.
  const n = trace.attempts.length
  const attempts = `${n} attempt${n === 1 ? '' : 's'}${n < pool.deployments.length ? ` (maxAttempts ${pool.maxAttempts}, ${pool.deployments.length} deployments)` : ''}`
  if (allThrottled) {
    return trace.finish(
      bedrockError(429, 'ThrottlingException', `Throttled upstream on every attempt of pool ${pool.name}, ${attempts}: ${trace.summary()}.`, { 'retry-after': retryAfter }),
    )
  }
  const why = n > 0 ? `every attempt failed upstream, ${attempts}: ${trace.summary()}` : 'the request deadline left no time for an attempt'
  return trace.finish(
    bedrockError(503, 'ServiceUnavailableException', `NO_MODELS_AVAILABLE: pool ${pool.name}: ${why}.`, { 'retry-after': retryAfter }),
  )
}

/** The deployment the client's request was written for: the one whose model ID it named, else the first primary. */
function originDeployment(pool: PoolConfig, requestedModel: string): DeploymentConfig {
  return pool.deployments.find((d) => d.modelId === requestedModel) ?? pool.deployments.find((d) => !d.fallback) ?? pool.deployments[0]
}

/** The body as sent upstream: verbatim when nothing must change, else adapted for the target's model family. */
function requestBodyFor(input: DispatchInput, origin: DeploymentConfig, target: DeploymentConfig, cache: Map<string, string>): string {
  if (target.family === origin.family && !target.override) return input.bodyText
  const key = target.id
  let text = cache.get(key)
  if (text === undefined) {
    const adapted = adaptRequestFor(input.body, origin, target)
    text = adapted === input.body ? input.bodyText : JSON.stringify(adapted)
    cache.set(key, text)
  }
  return text
}

function relayFailure(failure: AttemptFailure): Response {
  if (failure.relay) {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-errortype': failure.relay.errorType }
    if (failure.relay.requestId) headers['x-amzn-requestid'] = failure.relay.requestId
    return new Response(failure.relay.body || JSON.stringify({ message: failure.result.message ?? '' }), { status: failure.relay.status, headers })
  }
  const r = failure.result
  return bedrockError(r.status, r.errorType ?? 'InternalServerException', r.message ?? 'upstream failed')
}

/** A router-made refusal: the hard reason, deployment by deployment (from decide), and what this request tried. */
function rejectMessage(status: number, reason: string, trace: RequestTrace): string {
  const tried = trace.summary()
  if (status === 429) return `Too many requests: ${reason}.${tried ? ` Tried: ${tried}.` : ''}`
  return `NO_MODELS_AVAILABLE: ${reason}.${tried ? ` Tried: ${tried}.` : ''}`
}

function cost(deployment: DeploymentConfig, usage: AttemptOutcome['usage']): number | undefined {
  return usage ? costUsd(deployment, usage) : undefined
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
