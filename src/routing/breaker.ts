/**
 * Per-deployment circuit breaker, as outlier ejection (plain data, see BreakerState). After Envoy's outlier detection
 * and Hystrix's volume threshold: sporadic failures never open it, a failing deployment is ejected for a while that
 * grows with each repeated ejection.
 *
 * - closed: it opens after `consecutiveFailures` failures in a row, or when the failure rate over `windowMs` reaches
 *   `failureRate` once at least `minRequests` outcomes were seen in the window (no decision below that volume). The
 *   caller says whether the pool may eject one more deployment (`maxEjectionPercent`): if not, it stays closed.
 * - open: ejected until `openUntil` = opening time + max(cooldownMs × ejections, upstream Retry-After), the
 *   multiplier capped by `maxCooldownMs` and reset once the breaker has stayed closed for `maxCooldownMs`. An ejected
 *   deployment is not refused outright: routing sends to it only when nothing healthy is left (see decide.ts).
 * - half-open (entered lazily once `openUntil` has passed): at most `halfOpenProbes` probes in flight. A probe slot is
 *   taken by `decide` (reservation.probe) and released by `record`; a probe that never reports expires after the probe
 *   timeout so it cannot wedge the breaker. `successesToClose` probe successes close it; a probe failure re-opens it.
 *
 * Only health failures count (unavailable, timeout, network). Throttling is a capacity signal (pacing.ts), client
 * errors are the caller's fault, misconfiguration has its own probed cooldown (record.ts): all neutral here.
 */
import type { BreakerConfig, PoolConfig } from '../config/types'
import type { BreakerState, OutcomeBucket, OutcomeClass } from './types'

export type BreakerSignal = 'success' | 'failure' | 'neutral'

/**
 * How long a half-open probe (or a latency measurement, or a misconfiguration probe) may go unreported before it is
 * forgotten: no attempt outlives the request deadline or its own timeouts.
 */
export function probeTimeoutMs(pool: PoolConfig): number {
  return Math.max(pool.timeoutMs || 0, pool.attemptTimeoutMs || 0, pool.ttfbTimeoutMs || 0) || 120_000
}

export function breakerSignal(outcome: OutcomeClass): BreakerSignal {
  switch (outcome) {
    case 'success':
      return 'success'
    case 'unavailable':
    case 'timeout':
    case 'network':
      return 'failure'
    case 'throttled':
    case 'client':
    case 'misconfigured':
      return 'neutral'
  }
}

export function createBreakerState(): BreakerState {
  return { phase: 'closed', openUntil: 0, probes: [], halfOpenSuccesses: 0, outcomes: [], opened: 0, consecutive: 0, ejections: 0, closedAt: 0 }
}

/** State persisted before outlier ejection lacks its counters: adds them in place. */
export function upgradeBreaker(breaker: BreakerState): void {
  if (typeof breaker.consecutive === 'number') return
  breaker.consecutive = 0
  breaker.ejections = 0
  breaker.closedAt = 0
}

/** Slot width of the outcome window: at most ~60 slots whatever `windowMs` is. */
function slotMs(config: BreakerConfig): number {
  return Math.max(1000, Math.ceil(config.windowMs / 60))
}

function maxProbes(config: BreakerConfig): number {
  return Math.max(1, Math.floor(config.halfOpenProbes))
}

/** The phase at `now` without changing anything (an expired open breaker reads as half-open). */
export function phaseAt(breaker: BreakerState, now: number): BreakerState['phase'] {
  return breaker.phase === 'open' && now >= breaker.openUntil ? 'half-open' : breaker.phase
}

/** Moves an expired open breaker to half-open and drops probes older than `probeTimeoutMs`. */
export function refreshBreaker(breaker: BreakerState, now: number, probeTimeoutMs: number): void {
  if (breaker.phase === 'open' && now >= breaker.openUntil) {
    breaker.phase = 'half-open'
    breaker.probes = []
    breaker.halfOpenSuccesses = 0
  }
  if (breaker.probes.length > 0) {
    const probes = breaker.probes.filter((at) => at + probeTimeoutMs > now)
    if (probes.length !== breaker.probes.length) breaker.probes = probes
  }
}

export interface BreakerAdmission {
  admit: boolean
  /** The attempt must take a half-open probe slot. */
  probe: boolean
  /** When it could admit again, if it does not now. */
  availableAt: number
}

/** Whether the breaker lets an attempt through at `now` (call `refreshBreaker` first). */
export function breakerAdmission(
  breaker: BreakerState,
  config: BreakerConfig,
  now: number,
  probeTimeoutMs: number,
): BreakerAdmission {
  switch (phaseAt(breaker, now)) {
    case 'closed':
      return { admit: true, probe: false, availableAt: now }
    case 'open':
      return { admit: false, probe: false, availableAt: breaker.openUntil }
    case 'half-open': {
      const inFlight = breaker.phase === 'half-open' ? breaker.probes : []
      if (inFlight.length < maxProbes(config)) return { admit: true, probe: true, availableAt: now }
      let oldest = inFlight[0]
      for (const at of inFlight) oldest = Math.min(oldest, at)
      return { admit: false, probe: true, availableAt: Math.max(now, oldest + probeTimeoutMs) }
    }
  }
}

/** Takes a half-open probe slot for an attempt starting at `at` (the reservation time). */
export function takeProbe(breaker: BreakerState, at: number): void {
  if (breaker.phase === 'open') {
    breaker.phase = 'half-open'
    breaker.probes = []
    breaker.halfOpenSuccesses = 0
  }
  breaker.probes.push(at)
}

function releaseProbe(breaker: BreakerState, at: number): boolean {
  const i = breaker.probes.indexOf(at)
  if (i < 0) return false
  breaker.probes.splice(i, 1)
  return true
}

/** Whether the deployment counts as ejected for `maxEjectionPercent`: open, or half-open and not yet proven healthy. */
export function isEjected(breaker: BreakerState): boolean {
  return breaker.phase !== 'closed'
}

function open(breaker: BreakerState, config: BreakerConfig, now: number, retryAfterMs: number | undefined): void {
  // The ejection grows with each repeated ejection, unless the deployment stayed healthy for a long while in between.
  const healthyFor = breaker.phase === 'closed' ? now - breaker.closedAt : 0
  breaker.ejections = breaker.ejections > 0 && healthyFor >= config.maxCooldownMs ? 1 : breaker.ejections + 1
  const ejection = Math.min(config.maxCooldownMs, config.cooldownMs * breaker.ejections)
  breaker.phase = 'open'
  breaker.openUntil = Math.max(breaker.openUntil, now + Math.max(ejection, retryAfterMs ?? 0))
  breaker.consecutive = 0
  breaker.probes = []
  breaker.halfOpenSuccesses = 0
  breaker.outcomes = []
  breaker.opened++
}

function close(breaker: BreakerState, now: number): void {
  breaker.phase = 'closed'
  breaker.closedAt = now
  breaker.consecutive = 0
  breaker.probes = []
  breaker.halfOpenSuccesses = 0
  breaker.outcomes = []
}

/** Successes and failures counted in the window ending at `now` (read-only). */
export function windowCounts(
  breaker: BreakerState,
  config: BreakerConfig,
  now: number,
): { successes: number; failures: number } {
  const from = now - config.windowMs
  const width = slotMs(config)
  let successes = 0
  let failures = 0
  for (const slot of breaker.outcomes) {
    if (slot.start + width <= from) continue
    successes += slot.successes
    failures += slot.failures
  }
  return { successes, failures }
}

function pruneOutcomes(breaker: BreakerState, config: BreakerConfig, now: number): void {
  const from = now - config.windowMs
  const width = slotMs(config)
  let drop = 0
  while (drop < breaker.outcomes.length && breaker.outcomes[drop].start + width <= from) drop++
  if (drop > 0) breaker.outcomes.splice(0, drop)
}

function countOutcome(breaker: BreakerState, config: BreakerConfig, now: number, failed: boolean): void {
  pruneOutcomes(breaker, config, now)
  const width = slotMs(config)
  const start = Math.floor(now / width) * width
  let slot: OutcomeBucket | undefined = breaker.outcomes[breaker.outcomes.length - 1]
  // A slot newer than `now` (another isolate's clock ran ahead) takes the outcome.
  if (!slot || slot.start < start) {
    slot = { start, successes: 0, failures: 0 }
    breaker.outcomes.push(slot)
  }
  if (failed) slot.failures++
  else slot.successes++
}

/**
 * Feeds one attempt outcome to the breaker. `probeAt` is the reservation time of an attempt that held a probe slot.
 * Outcomes of attempts that were not probes do not move a half-open breaker: they were sent before it opened.
 * `mayEject`: the pool has room for one more ejection (maxEjectionPercent); without it a closed breaker stays closed.
 */
export function recordBreakerOutcome(
  breaker: BreakerState,
  config: BreakerConfig,
  signal: BreakerSignal,
  now: number,
  probeAt: number | undefined,
  retryAfterMs?: number,
  mayEject = true,
): void {
  const wasProbe = probeAt !== undefined && breaker.phase === 'half-open' && releaseProbe(breaker, probeAt)
  if (signal === 'neutral') return
  switch (breaker.phase) {
    case 'closed': {
      countOutcome(breaker, config, now, signal === 'failure')
      if (signal !== 'failure') {
        breaker.consecutive = 0
        return
      }
      breaker.consecutive++
      const { successes, failures } = windowCounts(breaker, config, now)
      const total = successes + failures
      const inARow = breaker.consecutive >= config.consecutiveFailures
      const byRate =
        config.failureRate > 0 && total >= Math.max(1, config.minRequests) && failures / total >= config.failureRate
      if ((inARow || byRate) && mayEject) open(breaker, config, now, retryAfterMs)
      return
    }
    case 'half-open':
      if (!wasProbe) return
      if (signal === 'failure') open(breaker, config, now, retryAfterMs)
      else if (++breaker.halfOpenSuccesses >= Math.max(1, config.successesToClose)) close(breaker, now)
      return
    case 'open':
      return
  }
}
