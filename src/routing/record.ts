/**
 * `record`: learn from one attempt's outcome.
 *
 * - Window: settle the reservation to the real usage (input + cacheWrite + output × burndown) when usage is known.
 *   Without usage, an attempt Bedrock refused (throttled, unavailable, client error, misconfigured) is released
 *   entirely: a rejected request consumes no tokens and does not count as a request. A success without usage, a timeout
 *   or a network error keeps its reservation (Bedrock may have counted it; it ages out with the window).
 * - Breaker: health failures count, throttles and client errors do not (breaker.ts).
 * - Throttles: a short cooldown (Retry-After, else 1 s growing to 5 s with consecutive 429s) and a learned limit
 *   (limits.ts). Misconfiguration (bad credentials, unknown model) takes the deployment out for 5 minutes.
 * - Latency: successes (and timeouts, which say "at least this slow") feed the EWMA of their kind.
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { breakerSignal, recordBreakerOutcome, refreshBreaker } from './breaker'
import { probeTimeoutMs } from './candidates'
import { learnFromThrottle, recoverLimits, throttledQuota } from './limits'
import { recordLatency } from './latency'
import { settledTokens } from './quota'
import { deploymentState } from './state'
import type { AttemptOutcome, Cooldown, DeploymentState, PoolState } from './types'
import { addUsage, pruneUsage, WINDOW_MS, windowTotals } from './window'

export const MISCONFIGURED_COOLDOWN_MS = 5 * 60_000
export const THROTTLE_COOLDOWN_MS = 1000
export const MAX_THROTTLE_COOLDOWN_MS = 5000

export function record(pool: PoolConfig, state: PoolState, outcome: AttemptOutcome, now: number): void {
  const deployment = pool.deployments.find((d) => d.id === outcome.deploymentId)
  if (!deployment) return // removed from the config meanwhile
  const ds = deploymentState(state, deployment.id)
  const { result } = outcome
  pruneUsage(ds.usage, now)
  settleWindow(deployment, ds, outcome, now)

  refreshBreaker(ds.breaker, now, probeTimeoutMs(pool))
  const probeAt = outcome.reservation?.probe ? outcome.reservation.at : undefined
  recordBreakerOutcome(ds.breaker, pool.breaker, breakerSignal(result.class), now, probeAt, result.retryAfterMs)

  if (result.class === 'throttled') {
    ds.consecutiveThrottles++
    const held = windowTotals(ds.usage, now)
    learnFromThrottle(deployment, ds, now, held, outcome.reservation?.tokens ?? 1, throttledQuota(result.message))
    const pause = Math.min(THROTTLE_COOLDOWN_MS * ds.consecutiveThrottles, MAX_THROTTLE_COOLDOWN_MS)
    coolDown(ds, { until: now + (result.retryAfterMs ?? pause), reason: 'throttled' })
  } else if (result.class === 'success') {
    ds.consecutiveThrottles = 0
    recoverLimits(deployment, ds, now)
  } else if (result.class === 'misconfigured') {
    coolDown(ds, { until: now + Math.max(MISCONFIGURED_COOLDOWN_MS, result.retryAfterMs ?? 0), reason: 'misconfigured' })
  }

  const stat = ds.latency[outcome.stream ? 'stream' : 'converse']
  const measured = typeof outcome.latencyMs === 'number' && Number.isFinite(outcome.latencyMs) && outcome.latencyMs >= 0
  if (measured && (result.class === 'success' || result.class === 'timeout')) {
    recordLatency(stat, outcome.latencyMs!, now, pool.latencyTtlMs)
  } else if (stat.pendingSince !== null && (outcome.reservation?.at ?? now) >= stat.pendingSince) {
    stat.pendingSince = null // the measurement failed: let another request measure
  }
}

/** Keeps the later deadline (a later, shorter cooldown never cuts an earlier, longer one). */
function coolDown(ds: DeploymentState, cooldown: Cooldown): void {
  if (!ds.cooldown || ds.cooldown.until <= cooldown.until) ds.cooldown = cooldown
}

function settleWindow(deployment: DeploymentConfig, ds: DeploymentState, outcome: AttemptOutcome, now: number): void {
  const { reservation, usage } = outcome
  if (!reservation) {
    // Not reserved through decide: count what it used now.
    if (usage) addUsage(ds.usage, now, 1, settledTokens(deployment, usage))
    return
  }
  if (!Number.isFinite(reservation.at) || reservation.at + WINDOW_MS <= now) return // already out of the window
  if (usage) {
    addUsage(ds.usage, reservation.at, 0, settledTokens(deployment, usage) - reservation.tokens)
    return
  }
  switch (outcome.result.class) {
    case 'throttled':
    case 'unavailable':
    case 'client':
    case 'misconfigured':
      addUsage(ds.usage, reservation.at, -1, -reservation.tokens)
      return
    case 'success':
    case 'timeout':
    case 'network':
      return
  }
}
