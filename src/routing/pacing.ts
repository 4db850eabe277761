/**
 * Adaptive send rate of one deployment, after the AWS SDK's adaptive retry mode: a token bucket whose fill rate is cut
 * multiplicatively when upstream throttles and grows back along a CUBIC curve while requests succeed.
 *
 * Why a rate and not a pause: a 429 from Bedrock is often sporadic (shared capacity at peak, on-demand spikes), so it
 * is evidence that this deployment is near *some* limit, not a verdict. Lowering its send rate lowers its share of
 * traffic (the router prefers deployments with a token) without taking it out; and the rate is measured against what
 * was really sent, so one throttle cuts it to 70 % of the real traffic rather than to a guess.
 *
 * - Unpaced (`rate: null`) until the first throttle: no limit beyond the configured rpm/tpm.
 * - Throttle: rate = β × min(measured send rate, rate in force), never below `MIN_RATE`. Throttles of requests that were
 *   sent before the last cut do not cut again (one cut per "round trip", as TCP does per loss event), so a burst of
 *   concurrent 429s from one event cuts once.
 * - Success: rate = C·(t − K)³ + W_max (t: seconds since the cut, K = ∛(W_max·(1 − β)/C)), capped at twice the measured
 *   send rate; it is back at W_max after K seconds (≈ 2 s at 10 req/s) and forgotten `FORGET_MS` after the last cut
 *   once it has grown past W_max.
 *
 * Pure: time is a parameter, the state is plain JSON.
 */
import type { PacingState } from './types'

/** Multiplicative decrease (the AWS SDK's β). */
export const BETA = 0.7
/** CUBIC scaling constant (the AWS SDK's C), with rates in requests per second. */
export const CUBIC_C = 0.4
/** The lowest fill rate, requests/s: a throttling deployment still gets one request every two seconds. */
export const MIN_RATE = 0.5
/** Time constant of the measured send rate, ms. */
export const MEASURE_TAU_MS = 2000
/** Pacing is dropped this long after the last throttle, once the rate has grown back past where it was cut. */
export const FORGET_MS = 30_000
/** Bucket capacity in seconds of the fill rate (at least one token): how much burst a paced deployment absorbs. */
const BURST_S = 1

export function createPacingState(): PacingState {
  return { rate: null, maxRate: 0, cutAt: 0, tokens: 0, filledAt: 0, sent: 0, measuredAt: 0 }
}

/** Measured send rate at `now`, requests/s: an exponentially decaying count of sends over MEASURE_TAU_MS. */
export function measuredRate(p: PacingState, now: number): number {
  if (p.sent === 0) return 0
  const dt = Math.max(0, now - p.measuredAt)
  return p.sent * Math.exp(-dt / MEASURE_TAU_MS)
}

function capacity(rate: number): number {
  return Math.max(1, rate * BURST_S)
}

function tokensAt(p: PacingState, now: number): number {
  if (p.rate === null) return Number.POSITIVE_INFINITY
  const elapsed = Math.max(0, now - p.filledAt) / 1000
  return Math.min(capacity(p.rate), p.tokens + elapsed * p.rate)
}

/** When a send would find a token: `now` when unpaced or a token is there. */
export function nextTokenAt(p: PacingState, now: number): number {
  if (p.rate === null) return now
  const tokens = tokensAt(p, now)
  return tokens >= 1 ? now : now + ((1 - tokens) / p.rate) * 1000
}

/**
 * Records a send at `at` (now, or a paced moment after now): it takes a token if there is one then, and counts toward
 * the measured rate. A send without a token (nothing better was available) does not run the bucket into debt.
 */
export function recordSend(p: PacingState, at: number): void {
  recordSends(p, at, 1)
  if (p.rate === null) return
  p.tokens = Math.max(0, tokensAt(p, at) - 1)
  p.filledAt = Math.max(p.filledAt, at)
}

/**
 * `n` sends made elsewhere at about `at` (an isolate's slice, reported at its renewal: routing/lease.ts): they count
 * toward the measured rate, so a cut after a throttle starts from what was really sent, but take no send token.
 */
export function recordSends(p: PacingState, at: number, n: number): void {
  if (n <= 0) return
  const decay = p.sent === 0 ? 0 : p.sent * Math.exp(-Math.max(0, at - p.measuredAt) / MEASURE_TAU_MS)
  p.sent = decay + (n * 1000) / MEASURE_TAU_MS
  p.measuredAt = Math.max(p.measuredAt, at)
}

/** An upstream 429 for a request sent at `sentAt`. */
export function recordThrottle(p: PacingState, now: number, sentAt: number): void {
  if (p.rate !== null && sentAt < p.cutAt) return // sent before the last cut: that cut already answered it
  const measured = measuredRate(p, now)
  const inForce = p.rate === null ? measured : Math.min(measured, p.rate)
  const base = Math.max(MIN_RATE, inForce)
  p.tokens = 0 // the next send waits one interval of the new rate: a throttled deployment's share drops at once
  p.maxRate = base
  p.rate = Math.max(MIN_RATE, base * BETA)
  p.cutAt = now
  p.filledAt = now
}

/** A success: grow the rate along the CUBIC curve; forget pacing once it is long past. */
export function recordSuccess(p: PacingState, now: number): void {
  if (p.rate === null) return
  const t = Math.max(0, now - p.cutAt) / 1000
  const k = Math.cbrt((p.maxRate * (1 - BETA)) / CUBIC_C)
  const cubic = CUBIC_C * (t - k) ** 3 + p.maxRate
  if (now - p.cutAt >= FORGET_MS && cubic >= p.maxRate) {
    Object.assign(p, createPacingState(), { sent: p.sent, measuredAt: p.measuredAt })
    return
  }
  const tokens = tokensAt(p, now)
  p.rate = Math.max(MIN_RATE, Math.min(cubic, 2 * Math.max(measuredRate(p, now), MIN_RATE)))
  p.tokens = Math.min(tokens, capacity(p.rate))
  p.filledAt = now
}
