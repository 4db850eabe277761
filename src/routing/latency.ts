/**
 * Latency EWMA per deployment and kind (Converse: total time; stream: time to first byte). Samples older than the pool's
 * `latencyTtlMs` no longer count, so a deployment that has not been measured lately is re-measured.
 */
import type { LatencyStat } from './types'

/** Weight of a new sample. */
export const LATENCY_ALPHA = 0.3

export function createLatencyStat(): LatencyStat {
  return { ewmaMs: null, at: 0, samples: 0, pendingSince: null }
}

/** The average if its last sample is within `ttlMs`, else null (unmeasured). */
export function freshLatency(stat: LatencyStat, now: number, ttlMs: number): number | null {
  return stat.ewmaMs !== null && now - stat.at <= ttlMs ? stat.ewmaMs : null
}

export function recordLatency(stat: LatencyStat, ms: number, now: number, ttlMs: number): void {
  const previous = freshLatency(stat, now, ttlMs)
  stat.ewmaMs = previous === null ? ms : previous + LATENCY_ALPHA * (ms - previous)
  stat.at = now
  stat.samples++
  stat.pendingSince = null
}

/** A measuring request was sent and has neither reported nor timed out. */
export function measurementPending(stat: LatencyStat, now: number, timeoutMs: number): boolean {
  return stat.pendingSince !== null && now - stat.pendingSince < timeoutMs
}
