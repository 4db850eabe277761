/**
 * `decide`: choose the deployment for the next attempt of a request, and reserve its quota in the same step.
 *
 * 1. Assess every deployment (candidates.ts): tried, breaker, cooldowns and, for window strategies, rpm/tpm room.
 * 2. Among the usable ones, take the best tier (primaries, then fallbacks; prompt routers before plain models in a
 *    bedrock-ipr pool) and let the pool's strategy pick.
 * 3. None usable: a rate-limit-aware pool with `maxQueueMs` reserves the earliest moment a deployment's window has room
 *    (if within the bound) and dispatches with `notBefore`; otherwise reject — 429 if capacity is what is missing
 *    (some deployment is throttled or full), 503 if every deployment is unhealthy or already tried.
 *
 * On `dispatch` the state already holds the reservation (and the half-open probe slot), so the caller persists state
 * and decision together.
 */
import type { PoolConfig } from '../config/types'
import { takeProbe } from './breaker'
import { assess, availableAt, probeTimeoutMs, isCapacityBlock, type Candidate } from './candidates'
import { freshLatency, measurementPending } from './latency'
import { STRATEGY_IMPLEMENTATIONS } from './strategies'
import type { Decision, PoolState, RequestEstimate } from './types'
import { addUsage } from './window'

/** Retry-After when nothing says when a deployment frees up. */
const DEFAULT_RETRY_AFTER_MS = 1000
/** Retry-After when the request can never fit (larger than every deployment's tpm). */
const TOO_LARGE_RETRY_AFTER_MS = 60_000

export function decide(
  pool: PoolConfig,
  state: PoolState,
  req: RequestEstimate,
  tried: readonly string[],
  now: number,
  rng: () => number,
): Decision {
  const candidates = pool.deployments.map((d) => assess(pool, d, state, req, tried, now))
  let tier = Number.POSITIVE_INFINITY
  for (const c of candidates) if (!c.tried && c.block === null) tier = Math.min(tier, c.tier)
  if (tier !== Number.POSITIVE_INFINITY) {
    const eligible = candidates.filter((c) => !c.tried && c.block === null && c.tier === tier)
    const pick = STRATEGY_IMPLEMENTATIONS[pool.strategy](eligible, { pool, req, now, rng })
    return dispatch(pool, pick.candidate, req, now, now, tier > 0 ? `${pick.reason}; fallback tier` : pick.reason)
  }
  if (pool.strategy === 'rate-limit-aware' && pool.maxQueueMs > 0) {
    const queued = queue(pool, candidates, req, now)
    if (queued) return queued
  }
  return reject(candidates, now)
}

function dispatch(
  pool: PoolConfig,
  c: Candidate,
  req: RequestEstimate,
  at: number,
  now: number,
  reason: string,
): Decision {
  addUsage(c.state.usage, at, 1, c.reserve)
  if (c.probe) takeProbe(c.state.breaker, at)
  const stat = c.state.latency[req.stream ? 'stream' : 'converse']
  if (freshLatency(stat, now, pool.latencyTtlMs) === null && !measurementPending(stat, now, probeTimeoutMs(pool))) {
    stat.pendingSince = now
  }
  const reservation = { deploymentId: c.deployment.id, at, tokens: c.reserve, ...(c.probe ? { probe: true } : {}) }
  return at > now
    ? { kind: 'dispatch', deploymentId: c.deployment.id, reservation, reason, notBefore: at }
    : { kind: 'dispatch', deploymentId: c.deployment.id, reservation, reason }
}

/** Reserve the earliest moment, within maxQueueMs, when a full (not unhealthy) deployment has room. */
function queue(pool: PoolConfig, candidates: readonly Candidate[], req: RequestEstimate, now: number): Decision | null {
  const last = now + pool.maxQueueMs
  let best: Candidate | null = null
  let bestAt = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    if (c.tried || !isCapacityBlock(c.block)) continue
    const at = availableAt(c, now, last)
    if (at < bestAt || (at === bestAt && best !== null && c.tier < best.tier)) {
      best = c
      bestAt = at
    }
  }
  if (!best || bestAt > last) return null
  const reason = `queued ${Math.round(bestAt - now)} ms for window room`
  return dispatch(pool, best, req, bestAt, now, best.tier > 0 ? `${reason}; fallback tier` : reason)
}

function reject(candidates: readonly Candidate[], now: number): Decision {
  let capacity = false
  let soonest = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    if (isCapacityBlock(c.block)) capacity = true
    soonest = Math.min(soonest, availableAt(c, now))
  }
  if (capacity) {
    const wait = soonest === Number.POSITIVE_INFINITY ? TOO_LARGE_RETRY_AFTER_MS : soonest - now
    return {
      kind: 'reject',
      status: 429,
      errorType: 'ThrottlingException',
      retryAfterMs: wait > 0 ? Math.ceil(wait) : DEFAULT_RETRY_AFTER_MS,
      reason:
        soonest === Number.POSITIVE_INFINITY
          ? 'the request exceeds the rate limits of every deployment'
          : 'every deployment is at its rate limit',
    }
  }
  const wait = soonest - now
  return {
    kind: 'reject',
    status: 503,
    errorType: 'ServiceUnavailableException',
    retryAfterMs: wait > 0 && Number.isFinite(wait) ? Math.ceil(wait) : DEFAULT_RETRY_AFTER_MS,
    reason: candidates.length === 0 ? 'the pool has no deployments' : 'no deployment available (unhealthy or already tried)',
  }
}
