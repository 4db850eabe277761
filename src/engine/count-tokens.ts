/**
 * CountTokens for a pool: sent to a usable deployment of the family the input is written for (the addressed model
 * first), failing over like any call, but outside the routing core's bookkeeping — Bedrock does not count
 * CountTokens against a model's RPM/TPM quotas, so nothing is reserved in the windows and nothing is reported to
 * the breakers. One snapshot read of the pool's state chooses the order.
 */
import { failoverAllowed } from '../routing/classify'
import type { DeploymentSnapshot } from '../routing/types'
import { credentialHint, resolveCredentials } from '../upstream/credentials'
import { attempt, CLIENT_GONE, type AttemptFailure } from './attempt'
import { originDeployment } from './engine'
import type { EngineContext, EngineRequest, Outcome } from './outcome'
import { traceFor } from './trace'

export async function countTokens(request: Omit<EngineRequest, 'operation'> & { family?: string }, ctx: EngineContext): Promise<Outcome> {
  const { pool, signal } = request
  const trace = traceFor(request, 'count-tokens', ctx)
  const origin = originDeployment(pool, request.requestedModel)
  const family = request.family ?? origin.family
  const snapshot = (await ctx.store.snapshot(pool).catch(() => undefined)) as DeploymentSnapshot[] | undefined
  const view = new Map((Array.isArray(snapshot) ? snapshot : []).map((s) => [s.id, s]))
  const rank = (id: string) => {
    const s = view.get(id)
    return s ? (s.usable ? (s.preferred ? 0 : 1) : 3) : 2
  }
  const order = pool.deployments
    .filter((d) => d.family === family)
    .sort((a, b) => Number(b === origin) - Number(a === origin) || rank(a.id) - rank(b.id) || Number(a.fallback) - Number(b.fallback))
    .filter((d) => rank(d.id) < 3)
    .slice(0, pool.maxAttempts)
  const body = request.bodyText ?? JSON.stringify(request.body)
  const deadline = trace.started + Math.min(pool.timeoutMs, pool.attemptTimeoutMs)
  for (const deployment of order) {
    const credentials = resolveCredentials(ctx.env, deployment.credentials)
    if (!credentials) {
      trace.abandoned(deployment, { class: 'misconfigured', status: 500, errorType: 'InternalServerException', message: `set ${credentialHint(deployment.credentials)}` })
      continue
    }
    const outcome = await attempt({ deployment, credentials, operation: 'count-tokens', body, timeoutMs: deadline - Date.now(), clientSignal: signal })
    if (outcome.ok && outcome.kind === 'converse') {
      trace.served(deployment, 'count tokens: a usable deployment of the family, outside the windows', outcome.latencyMs)
      trace.completed({ class: 'success', status: 200 })
      return { kind: 'served', body: outcome.body, contentType: outcome.contentType, requestId: outcome.requestId, trace }
    }
    const failure = outcome as AttemptFailure
    if (failure.result === CLIENT_GONE) return { kind: 'cancelled', trace }
    trace.abandoned(deployment, failure.result, failure.latencyMs)
    if (!failoverAllowed(failure.result)) return { kind: 'failed', result: failure.result, relay: failure.relay, trace }
    if (Date.now() >= deadline) break
  }
  const tried = trace.summary()
  return {
    kind: 'rejected',
    cause: order.length ? 'exhausted' : 'unavailable',
    status: 503,
    errorType: 'ServiceUnavailableException',
    message: `NO_MODELS_AVAILABLE: pool ${pool.name}: ${order.length ? `CountTokens failed on every deployment tried: ${tried}` : `no usable ${family} deployment to count tokens on`}.`,
    retryAfterMs: 1000,
    trace,
  }
}
