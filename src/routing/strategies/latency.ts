/**
 * `latency`: the lowest recent latency for this kind of request (EWMA of time to first byte for streams, total time
 * for Converse). A deployment without a fresh sample (none yet, or older than `latencyTtlMs`) is tried first, one
 * measurement at a time; with probability `exploration` a random usable deployment is picked so a recovered one gets
 * traffic again.
 */
import { probeTimeoutMs } from '../breaker'
import { freshLatency, measurementPending } from '../latency'
import { formatMs, nearBest, pickByWeight, type Strategy, type StrategyDefinition } from './strategy'

const pick: Strategy = (candidates, { pool, req, now, rng }) => {
  if (pool.exploration > 0 && rng() < pool.exploration) {
    return { candidate: candidates[Math.floor(rng() * candidates.length) % candidates.length], reason: 'exploring' }
  }
  const kind = req.stream ? 'stream' : 'converse'
  const timeout = probeTimeoutMs(pool)
  const unmeasured = candidates.filter((c) => {
    const stat = c.state.latency[kind]
    return freshLatency(stat, now, pool.latencyTtlMs) === null && !measurementPending(stat, now, timeout)
  })
  if (unmeasured.length > 0) return { candidate: pickByWeight(unmeasured, rng), reason: 'measuring latency' }
  // Measured ones by average; those being measured (no fresh sample yet) after them.
  const score = (c: (typeof candidates)[number]) =>
    freshLatency(c.state.latency[kind], now, pool.latencyTtlMs) ?? Number.POSITIVE_INFINITY
  const candidate = pickByWeight(nearBest(candidates, score, true, 0), rng)
  const ms = score(candidate)
  return { candidate, reason: Number.isFinite(ms) ? `fastest (${formatMs(ms)})` : 'measurement pending' }
}

export const fastest: StrategyDefinition = {
  summary: 'the lowest recent latency (time to first byte for streams, total for Converse), re-measured, with exploration',
  usesWindows: true,
  canQueue: false,
  pick,
}
