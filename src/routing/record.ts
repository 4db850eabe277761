/**
 * `record`: learn from one attempt's outcome. Soft signals (a throttle, a 5xx, a timeout) adjust how much a deployment
 * is preferred; only Bedrock saying the deployment itself is wrong takes it out, and only until a probe succeeds.
 *
 * - Window: settle the reservation to the real usage (input + cacheWrite + output × burndown) when usage is known.
 *   Without usage, an attempt Bedrock refused (throttled, unavailable, client error, misconfigured) is released
 *   entirely: a rejected request consumes no tokens and does not count as a request. A success without usage, a timeout
 *   or a network error keeps its reservation (Bedrock may have counted it; it ages out with the window).
 * - Throttle: the deployment's send rate is cut (pacing.ts); never a breaker failure, never a pause of the deployment.
 * - Health failures (unavailable, timeout, network) feed the breaker (breaker.ts), which ejects only on failures in a
 *   row or a failure rate over a minimum volume, and never more than `maxEjectionPercent` of the pool.
 * - Upstream Retry-After (on a throttle or a failure): the deployment is avoided until then, while others can serve.
 * - Misconfiguration (AccessDenied, unknown model, bad credentials): out, probed after MISCONFIGURED_PROBE_MS, the
 *   interval doubling per failed probe up to MISCONFIGURED_MAX_PROBE_MS; the first success ends it.
 * - Budgets: the reservation's hold is released and the attempt's real cost spent (budget.ts).
 * - Latency: successes (and timeouts, which say "at least this slow") feed the EWMA of their kind.
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { breakerSignal, isEjected, probeTimeoutMs, recordBreakerOutcome, refreshBreaker } from './breaker'
import { attemptCostUsd, budgetsOf, createSpendState, settleSpend } from './budget'
import { settleDayTokens } from './day-tokens'
import { recordLatency } from './latency'
import { recordSuccess, recordThrottle } from './pacing'
import { settledTokens } from './quota'
import { deploymentState, usageOf } from './state'
import type { AttemptOutcome, DeploymentState, PoolState, UsageBucket } from './types'
import { addUsage, pruneUsage, WINDOW_MS } from './window'

export const MISCONFIGURED_PROBE_MS = 10_000
export const MISCONFIGURED_MAX_PROBE_MS = 5 * 60_000
/** Longest Retry-After honoured as a preference, ms (a longer one is upstream's business, not a reason to avoid). */
export const MAX_AVOID_MS = 60_000

export function record(pool: PoolConfig, state: PoolState, outcome: AttemptOutcome, now: number): void {
  const deployment = pool.deployments.find((d) => d.id === outcome.deploymentId)
  if (!deployment) return // removed from the config meanwhile
  const ds = deploymentState(state, deployment.id)
  const { result } = outcome
  const usage = usageOf(state, deployment)
  for (const window of usage === ds.usage ? [usage] : [usage, ds.usage]) {
    pruneUsage(window, now)
    settleWindow(deployment, window, outcome, now)
  }
  if (budgetsOf(deployment)) {
    const r = outcome.reservation
    settleSpend((ds.spend ??= createSpendState(now)), r?.usd ? { at: r.at, amount: r.usd } : undefined, attemptCostUsd(deployment, outcome), now)
  }
  settleDayTokens(deployment, state, outcome, now)

  const timeout = probeTimeoutMs(pool)
  refreshBreaker(ds.breaker, now, timeout)
  const probeAt = outcome.reservation?.probe ? outcome.reservation.at : undefined
  const signal = breakerSignal(result.class)
  const mayEject = signal === 'failure' && ds.breaker.phase === 'closed' ? poolMayEject(pool, state, deployment.id) : true
  recordBreakerOutcome(ds.breaker, pool.breaker, signal, now, probeAt, result.retryAfterMs, mayEject)

  switch (result.class) {
    case 'success':
      recordSuccess(ds.pacing, now)
      ds.misconfigured = null
      break
    case 'throttled':
      // A throttle of one member of a quota group is the group's quota speaking: every member of it in this pool is
      // paced and counts as just failed, so a failover prefers a deployment that draws on another quota.
      for (const d of deployment.quotaGroup === undefined ? [deployment] : pool.deployments.filter((x) => x.quotaGroup === deployment.quotaGroup)) {
        const member = d === deployment ? ds : deploymentState(state, d.id)
        recordThrottle(member.pacing, now, outcome.reservation?.at ?? outcome.sentAt ?? now)
        member.lastFailureAt = now
        if (result.retryAfterMs !== undefined && result.retryAfterMs > 0 && member !== ds) member.avoidUntil = Math.max(member.avoidUntil, now + Math.min(result.retryAfterMs, MAX_AVOID_MS))
      }
      break
    case 'unavailable':
    case 'timeout':
    case 'network':
      ds.lastFailureAt = now
      break
    case 'misconfigured':
      markMisconfigured(ds, result.errorType ?? 'misconfigured', now, probeAt)
      ds.lastFailureAt = now
      break
    case 'client':
      break
  }
  if (ds.misconfigured && probeAt !== undefined && ds.misconfigured.probing === probeAt) {
    // The probe ended without Bedrock repeating that the deployment is wrong. A throttle comes after authentication and
    // model lookup, so it proves the setup is fixed; anything else lets the next request probe again.
    if (result.class === 'throttled') ds.misconfigured = null
    else ds.misconfigured.probing = null
  }
  if (result.retryAfterMs !== undefined && result.retryAfterMs > 0 && result.class !== 'success' && result.class !== 'client') {
    ds.avoidUntil = Math.max(ds.avoidUntil, now + Math.min(result.retryAfterMs, MAX_AVOID_MS))
  }

  const stat = ds.latency[outcome.stream ? 'stream' : 'converse']
  const measured = typeof outcome.latencyMs === 'number' && Number.isFinite(outcome.latencyMs) && outcome.latencyMs >= 0
  if (measured && (result.class === 'success' || result.class === 'timeout')) {
    recordLatency(stat, outcome.latencyMs!, now, pool.latencyTtlMs)
  } else if (stat.pendingSince !== null && (outcome.reservation?.at ?? now) >= stat.pendingSince) {
    stat.pendingSince = null // the measurement failed: let another request measure
  }
}

/** Whether one more deployment of the pool may be ejected (`maxEjectionPercent`; never the last healthy one). */
function poolMayEject(pool: PoolConfig, state: PoolState, id: string): boolean {
  const n = pool.deployments.length
  const allowed = Math.min(n - 1, Math.floor((n * pool.breaker.maxEjectionPercent) / 100 + 1e-9))
  let ejected = 0
  for (const d of pool.deployments) {
    if (d.id === id) continue
    const other = state.deployments[d.id]
    if (other && isEjected(other.breaker)) ejected++
  }
  return ejected + 1 <= allowed
}

/**
 * A misconfigured answer. A first one (or one from a request sent before the deployment was marked) marks it; a failed
 * probe doubles the interval to the next probe.
 */
function markMisconfigured(ds: DeploymentState, errorType: string, now: number, probeAt: number | undefined): void {
  const bad = ds.misconfigured
  if (!bad) {
    ds.misconfigured = { since: now, errorType, probeAt: now + MISCONFIGURED_PROBE_MS, probing: null, strikes: 0 }
    return
  }
  bad.errorType = errorType
  if (probeAt !== undefined && bad.probing === probeAt) {
    bad.probing = null
    bad.strikes++
    bad.probeAt = now + Math.min(MISCONFIGURED_MAX_PROBE_MS, MISCONFIGURED_PROBE_MS * 2 ** bad.strikes)
  }
}

function settleWindow(deployment: DeploymentConfig, window: UsageBucket[], outcome: AttemptOutcome, now: number): void {
  const { reservation, usage } = outcome
  if (!reservation) {
    // Not reserved through decide: count what it used now.
    if (usage) addUsage(window, now, 1, settledTokens(deployment, usage))
    return
  }
  if (!Number.isFinite(reservation.at) || reservation.at + WINDOW_MS <= now) return // already out of the window
  const delta = settlementOf(deployment, outcome)
  if (delta) addUsage(window, reservation.at, delta.requests, delta.tokens)
}

/**
 * What a reserved attempt's outcome changes in the window, at its reservation's bucket: settled to the real tokens
 * when usage is known; released entirely when Bedrock refused it (a rejected request consumes nothing and does not
 * count); kept as reserved after a success without usage, a timeout or a network error (Bedrock may have counted it).
 * Leases (lease.ts) send the same change to the object that holds the window.
 */
export function settlementOf(deployment: DeploymentConfig, outcome: AttemptOutcome): { requests: number; tokens: number } | null {
  const { reservation, usage } = outcome
  if (!reservation) return null
  if (usage) return { requests: 0, tokens: settledTokens(deployment, usage) - reservation.tokens }
  switch (outcome.result.class) {
    case 'throttled':
    case 'unavailable':
    case 'client':
    case 'misconfigured':
      return { requests: -1, tokens: -reservation.tokens }
    case 'success':
    case 'timeout':
    case 'network':
      return null
  }
}
