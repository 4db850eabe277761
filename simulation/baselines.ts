/**
 * Baseline policies for the simulator, to compare the engine against:
 * - `multiplexerPolicy`: the aws-samples Bedrock Model Multiplexer (github.com/aws-samples, "Bedrock Model Multiplexer"): weighted random over primaries
 *   (fallbacks only when no primary is left), fail over only after a 429, up to 4 attempts, and a breaker that counts
 *   every failure including throttles: 5 failures in 60 s (a success clears them) open it for 30 s; half-open admits
 *   everything, 2 successes close it, a failure re-opens it.
 * - `naivePolicy`: weighted random, one attempt, no breaker.
 * - `noRouterPolicy`: no router at all — a careful client that knows the deployments and tries each at most once per
 *   request, starting from the next one in rotation, moving on after any throttle or failure. No state, no breaker:
 *   what "never worse than no router" is measured against.
 * - `litellmPolicy`: LiteLLM's router cooldowns (its documented `allowed_fails` and `cooldown_time` defaults): a deployment with 3 failures within a minute, or any
 *   429, is cooled down for 5 s; requests go weighted-random among deployments not cooling down, failing over among
 *   them; when every deployment is cooling down the request is refused ("No deployments available").
 * - `oraclePolicy`: knows the upstream's true windows and hard outages: sends only where Bedrock has room and is up
 *   (most room first), fails over like the router, rejects when none has room; the ceiling for quota use.
 */
import type { DeploymentConfig, PoolConfig } from '../src/config/types'
import { weightedIndex } from '../src/routing/random'
import type { Decision, RequestEstimate } from '../src/routing/types'
import { reservedTokens } from '../src/routing/quota'
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

export const noRouterPolicy: PolicyFactory = (pool) => {
  let next = 0
  const n = pool.deployments.length
  // The rotation start of each request, by its first decision; later attempts continue from there.
  return {
    name: 'no-router',
    maxAttempts: n,
    decide(req, tried, now) {
      if (n === 0) return noModels(503, 'no deployments')
      if (tried.length === 0) next = (next + 1) % n
      const start = tried.length === 0 ? next : pool.deployments.findIndex((d) => d.id === tried[0])
      for (let k = 0; k < n; k++) {
        const d = pool.deployments[(start + k) % n]
        if (!tried.includes(d.id)) return send(d, req, now, 'rotation')
      }
      return noModels(503, 'every deployment tried')
    },
    record() {},
  }
}

export const LITELLM_ALLOWED_FAILS = 3
export const LITELLM_COOLDOWN_MS = 5000

export const litellmPolicy: PolicyFactory = (pool) => {
  const failures = new Map<string, number[]>()
  const coolingUntil = new Map<string, number>()
  return {
    name: 'litellm-cooldown',
    maxAttempts: pool.deployments.length,
    decide(req, tried, now, rng) {
      const open = pool.deployments.filter((d) => !tried.includes(d.id) && (coolingUntil.get(d.id) ?? 0) <= now)
      const chosen = weightedAmong(open, rng) ?? open[0]
      if (chosen) return send(chosen, req, now, 'simple-shuffle (litellm)')
      return noModels(429, 'No deployments available (every deployment cooling down or tried)')
    },
    record(outcome, now) {
      const cls = outcome.result.class
      if (cls === 'success' || cls === 'client') return
      const id = outcome.deploymentId
      if (cls === 'throttled') {
        coolingUntil.set(id, now + LITELLM_COOLDOWN_MS)
        return
      }
      const recent = (failures.get(id) ?? []).filter((t) => t > now - 60_000)
      recent.push(now)
      failures.set(id, recent)
      if (recent.length >= LITELLM_ALLOWED_FAILS) {
        coolingUntil.set(id, now + LITELLM_COOLDOWN_MS)
        failures.set(id, [])
      }
    },
  }
}

export const oraclePolicy: PolicyFactory = (pool, upstream) => ({
  name: 'oracle',
  decide(req, tried, now, rng) {
    const open = pool.deployments.filter(
      (d) => !tried.includes(d.id) && !upstream.isDown(d.id, now) && upstream.hasRoom(d.id, now, reservedTokens(d, req)),
    )
    if (open.length === 0) return noModels(429, 'no deployment has room upstream')
    let best = -1
    for (const d of open) best = Math.max(best, upstream.headroom(d.id, now, reservedTokens(d, req)))
    const roomiest = open.filter((d) => upstream.headroom(d.id, now, reservedTokens(d, req)) >= best - 0.02)
    const i = weightedIndex(roomiest.length, (k) => roomiest[k].weight, rng)
    return send(roomiest[i >= 0 ? i : 0], req, now, 'oracle')
  },
  record() {},
})
