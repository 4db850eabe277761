/**
 * Baseline policies for the simulator, to compare the engine against:
 * - `multiplexerPolicy`: the aws-samples Bedrock Model Multiplexer (landscape.md §5): weighted random over primaries
 *   (fallbacks only when no primary is left), fail over only after a 429, up to 4 attempts, and a breaker that counts
 *   every failure including throttles: 5 failures in 60 s (a success clears them) open it for 30 s; half-open admits
 *   everything, 2 successes close it, a failure re-opens it.
 * - `naivePolicy`: weighted random, one attempt, no breaker.
 * - `oraclePolicy`: knows the upstream's true windows: sends only where Bedrock has room (most room first) and
 *   rejects when none has; the ceiling for quota use.
 */
import type { DeploymentConfig, PoolConfig } from '../../config/types'
import { weightedIndex } from '../random'
import type { Decision, RequestEstimate } from '../types'
import { reservedTokens } from '../quota'
import type { PolicyFactory } from './policy'

function weightedAmong(list: readonly DeploymentConfig[], rng: () => number): DeploymentConfig | undefined {
  const i = weightedIndex(list.length, (k) => list[k].weight, rng)
  return i >= 0 ? list[i] : undefined
}

function send(d: DeploymentConfig, req: RequestEstimate, now: number, reason: string): Decision {
  return { kind: 'dispatch', deploymentId: d.id, reservation: { deploymentId: d.id, at: now, tokens: reservedTokens(d, req) }, reason }
}

function noModels(status: 429 | 503, reason: string): Decision {
  return status === 429
    ? { kind: 'reject', status, errorType: 'ThrottlingException', retryAfterMs: 1000, reason }
    : { kind: 'reject', status, errorType: 'ServiceUnavailableException', retryAfterMs: 1000, reason }
}

class MultiplexerBreaker {
  private phase: 'closed' | 'open' | 'half-open' = 'closed'
  private failures: number[] = []
  private openedAt = 0
  private successes = 0
  /** The failure that opened it was a throttle (what a client of this policy sees: rate limiting). */
  openedByThrottle = false

  canExecute(now: number): boolean {
    if (this.phase === 'open' && now - this.openedAt >= 30_000) {
      this.phase = 'half-open'
      this.successes = 0
    }
    return this.phase !== 'open'
  }

  success(): void {
    if (this.phase === 'half-open' && ++this.successes >= 2) this.phase = 'closed'
    if (this.phase === 'closed') this.failures = []
  }

  failure(now: number, throttle: boolean): void {
    if (this.phase === 'half-open') return this.open(now, throttle)
    if (this.phase === 'open') return
    this.failures = this.failures.filter((t) => t > now - 60_000)
    this.failures.push(now)
    if (this.failures.length >= 5) this.open(now, throttle)
  }

  private open(now: number, throttle: boolean): void {
    this.phase = 'open'
    this.openedAt = now
    this.failures = []
    this.openedByThrottle = throttle
  }
}

export const multiplexerPolicy: PolicyFactory = (pool: PoolConfig) => {
  const breakers = new Map(pool.deployments.map((d) => [d.id, new MultiplexerBreaker()]))
  return {
    name: 'multiplexer-sample',
    maxAttempts: 4,
    failoverAllowed: (result) => result.class === 'throttled',
    decide(req, tried, now, rng) {
      const open = (d: DeploymentConfig) => !tried.includes(d.id) && breakers.get(d.id)!.canExecute(now)
      const primary = weightedAmong(pool.deployments.filter((d) => !d.fallback && open(d)), rng)
      const chosen = primary ?? weightedAmong(pool.deployments.filter((d) => d.fallback && open(d)), rng)
      if (chosen) return send(chosen, req, now, 'weighted (multiplexer)')
      // NO_MODELS_AVAILABLE. Only throttles fail over, so tried deployments throttled; a client of an HTTP front
      // sees a 429 when that, or breakers opened by throttles, is why nothing is left.
      const throttled = pool.deployments.every((d) => tried.includes(d.id) || breakers.get(d.id)!.openedByThrottle)
      return noModels(throttled ? 429 : 503, 'NO_MODELS_AVAILABLE')
    },
    record(outcome, now) {
      const breaker = breakers.get(outcome.deploymentId)
      if (!breaker) return
      if (outcome.result.class === 'success') breaker.success()
      else breaker.failure(now, outcome.result.class === 'throttled')
    },
  }
}

export const naivePolicy: PolicyFactory = (pool) => ({
  name: 'naive-random',
  maxAttempts: 1,
  decide(req, _tried, now, rng) {
    const chosen = weightedAmong(pool.deployments, rng)
    return chosen ? send(chosen, req, now, 'random') : noModels(503, 'no deployments')
  },
  record() {},
})

export const oraclePolicy: PolicyFactory = (pool, upstream) => ({
  name: 'oracle',
  decide(req, tried, now, rng) {
    const open = pool.deployments.filter((d) => !tried.includes(d.id) && upstream.hasRoom(d.id, now, reservedTokens(d, req)))
    if (open.length === 0) return noModels(429, 'no deployment has room upstream')
    let best = -1
    for (const d of open) best = Math.max(best, upstream.headroom(d.id, now, reservedTokens(d, req)))
    const roomiest = open.filter((d) => upstream.headroom(d.id, now, reservedTokens(d, req)) >= best - 0.02)
    const i = weightedIndex(roomiest.length, (k) => roomiest[k].weight, rng)
    return send(roomiest[i >= 0 ? i : 0], req, now, 'oracle')
  },
  record() {},
})
