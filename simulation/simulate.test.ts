import { describe, expect, it } from 'vitest'
import type { PoolConfig, StrategyName } from '../src/config/types'
import { litellmPolicy, multiplexerPolicy, naivePolicy, noRouterPolicy, oraclePolicy, simulate, type SimulationReport } from './simulate'
import { BREAKER, deployment, pool } from '../src/routing/test-helpers'

/** Three deployments with RPM quotas 60/120/180, weighted by quota, as the multiplexer sample would be set up. */
const QUOTAS = { east: 60, west: 120, ohio: 180 }
const AGGREGATE_RPM = 360

function threeRegions(strategy: StrategyName, extra: Partial<PoolConfig> = {}): PoolConfig {
  return pool(
    Object.entries(QUOTAS).map(([id, rpm]) => deployment(id, { region: id, rpm, weight: rpm })),
    { strategy, maxAttempts: 3, ...extra },
  )
}
const upstream = Object.fromEntries(Object.entries(QUOTAS).map(([id, rpm]) => [id, { rpm }]))

function clientRejected(r: SimulationReport): number {
  return (r.clientThrottled + r.clientFailed) / r.requests
}

describe('simulation: smooth load at 100% of the aggregate RPM quota for 10 minutes', () => {
  const base = { upstream, durationMs: 10 * 60_000, offeredRpm: AGGREGATE_RPM, seed: 1 }

  it("the multiplexer sample's policy wastes about a quarter of the quota", () => {
    const r = simulate({ ...base, pool: threeRegions('weighted'), policy: multiplexerPolicy })
    expect(r.requests).toBeGreaterThanOrEqual(3600)
    // breakers that count throttles open for 30 s and push their share onto deployments that are already full
    expect(r.quotaUsed!).toBeGreaterThan(0.65)
    expect(r.quotaUsed!).toBeLessThan(0.85)
    expect(clientRejected(r)).toBeGreaterThan(0.15)
    expect(clientRejected(r)).toBeLessThan(0.35)
    expect(r.clientThrottled).toBeGreaterThan(0.15 * r.requests) // what clients see: 429s
    expect(r.upstreamThrottles).toBeGreaterThan(100)
    expect(r.failovers).toBeGreaterThan(50) // it does fail over after a 429, but onto full deployments
  })

  it('rate-limit-aware uses at least 95% of the quota with almost no upstream 429s', () => {
    const r = simulate({ ...base, pool: threeRegions('rate-limit-aware') })
    expect(r.policy).toBe('rate-limit-aware') // the real engine
    expect(r.quotaUsed!).toBeGreaterThanOrEqual(0.95)
    expect(r.upstreamThrottles).toBeLessThanOrEqual(r.requests * 0.005)
    expect(clientRejected(r)).toBeLessThan(0.03)
    expect(r.failovers).toBeLessThanOrEqual(r.requests * 0.005)
  })

  it('queueing within maxQueueMs turns most of the remaining 429s into short waits', () => {
    const r = simulate({ ...base, pool: threeRegions('rate-limit-aware', { maxQueueMs: 5000 }) })
    expect(r.queued).toBeGreaterThan(0)
    expect(r.quotaUsed!).toBeGreaterThanOrEqual(0.98)
    expect(r.upstreamThrottles).toBe(0)
    expect(r.latencyP95Ms).toBeLessThan(800 * 1.5 + 5000 + 100)
  })
})

describe('simulator', () => {
  it('is deterministic for a seed', () => {
    const run = () => simulate({ pool: threeRegions('weighted'), upstream, durationMs: 60_000, offeredRpm: 400, seed: 5, arrivals: 'poisson' })
    expect(run()).toEqual(run())
  })

  it('paces a quota shared with other traffic (configured 120, really 60): every request served, the shared one not hammered', () => {
    const p = pool([deployment('shared', { rpm: 120 }), deployment('spare', { rpm: 120 })], { strategy: 'rate-limit-aware', maxPacingMs: 500 })
    const r = simulate({ pool: p, upstream: { shared: { rpm: 60 }, spare: { rpm: 120 } }, durationMs: 10 * 60_000, offeredRpm: 170, seed: 2 })
    expect(r.succeeded).toBe(r.requests)
    // the shared deployment is still used up to its real quota, and probed above it about once every few seconds
    expect(r.perDeployment.shared.successes).toBeGreaterThan(0.95 * 600)
    expect(r.upstreamThrottles / r.requests).toBeLessThan(0.2)
  })

  it('with an outage, the breaker keeps failed attempts bounded and clients served', () => {
    const p = pool([deployment('a'), deployment('b')], { strategy: 'weighted', breaker: { ...BREAKER, cooldownMs: 30_000 } })
    const r = simulate({
      pool: p,
      upstream: { a: { outages: [{ fromMs: 60_000, toMs: 240_000 }] }, b: {} },
      durationMs: 5 * 60_000,
      offeredRpm: 600,
      seed: 3,
    })
    // 5 failures open it, then one probe per 30 s while it is down
    expect(r.perDeployment.a.errors).toBeLessThan(20)
    expect(r.clientFailed).toBe(0)
    expect(r.succeeded).toBe(r.requests)
  })

  it('runs baselines: naive random and an oracle that knows the true windows', () => {
    const naive = simulate({ pool: threeRegions('weighted'), upstream, policy: naivePolicy, durationMs: 5 * 60_000, offeredRpm: 450, seed: 4, arrivals: 'poisson' })
    const oracle = simulate({ pool: threeRegions('weighted'), upstream, policy: oraclePolicy, durationMs: 5 * 60_000, offeredRpm: 450, seed: 4, arrivals: 'poisson' })
    expect(oracle.upstreamThrottles).toBe(0)
    expect(oracle.quotaUsed!).toBeGreaterThan(naive.quotaUsed!)
    expect(naive.failovers).toBe(0)
  })

  it('reports cost per 1,000 requests and token quota use', () => {
    const p = pool([deployment('a', { modelId: 'global.anthropic.claude-sonnet-4-6', tpm: 100_000 })], { strategy: 'rate-limit-aware' })
    const r = simulate({
      pool: p,
      upstream: { a: { tpm: 100_000 } },
      durationMs: 60_000,
      offeredRpm: 30,
      request: () => ({ inputTokens: 1000, maxTokens: 1000, outputTokens: 100, stream: false }),
    })
    expect(r.succeeded).toBe(30)
    expect(r.costPer1000Requests).toBeCloseTo((1000 * 3 + 100 * 15) / 1000, 6)
    expect(r.tokenQuotaUsed).toBeCloseTo((30 * (1000 + 100 * 5)) / 100_000, 6)
  })
})

describe('simulation: noise the design does not assume (random faults below any quota)', () => {
  // Three regions without binding quotas: only the noise matters. The real config defaults (breaker, pacing).
  const noisy = (strategy: StrategyName) =>
    pool(['a', 'b', 'c'].map((id) => deployment(id, { region: id })), {
      strategy,
      breaker: { consecutiveFailures: 5, windowMs: 60_000, failureRate: 0.5, minRequests: 20, cooldownMs: 30_000, maxCooldownMs: 300_000, halfOpenProbes: 1, successesToClose: 2, maxEjectionPercent: 50, panicThreshold: 0.5 },
    })
  const run = (strategy: StrategyName, upstreamOf: (id: string) => Record<string, unknown>, policy?: typeof noRouterPolicy) =>
    simulate({
      pool: noisy(strategy),
      upstream: Object.fromEntries(['a', 'b', 'c'].map((id) => [id, upstreamOf(id)])),
      policy,
      durationMs: 2 * 60_000,
      offeredRpm: 600,
      arrivals: 'poisson',
      seed: 11,
    })
  const scenarios: Array<[string, (id: string) => Record<string, unknown>]> = [
    ['20 % random throttles in every region', () => ({ throttleRate: 0.2 })],
    ['3 % random 5xx in every region', () => ({ errorRate: 0.03, errorStatus: 503 })],
    ['one region hard down', (id) => (id === 'a' ? { outages: [{ fromMs: 0, toMs: 120_000 }] } : {})],
    ['one region 50 % errors for 30 s', (id) => (id === 'a' ? { outages: [{ fromMs: 30_000, toMs: 60_000, rate: 0.5 }] } : {})],
  ]
  for (const [name, upstreamOf] of scenarios) {
    for (const strategy of ['weighted', 'rate-limit-aware', 'cost', 'latency'] as const) {
      it(`${name}: ${strategy} serves at least what a client trying each region itself serves, refusing nothing`, () => {
        const baseline = run(strategy, upstreamOf, noRouterPolicy)
        const r = run(strategy, upstreamOf)
        expect(r.requests).toBe(baseline.requests)
        expect(r.succeeded).toBeGreaterThanOrEqual(baseline.succeeded)
        expect(r.refused).toBe(0)
      })
    }
  }

  it('LiteLLM-style cooldowns (the baseline that pauses on every 429) refuse most requests at 20 % random throttles', () => {
    const r = run('weighted', () => ({ throttleRate: 0.2 }), litellmPolicy)
    expect(r.refused / r.requests).toBeGreaterThan(0.5)
  })

  it('after a storm of throttles on every region, full service within 2 s', () => {
    const r = simulate({
      pool: noisy('rate-limit-aware'),
      upstream: Object.fromEntries(['a', 'b', 'c'].map((id) => [id, { outages: [{ fromMs: 30_000, toMs: 40_000, status: 429 }] }])),
      durationMs: 60_000,
      offeredRpm: 600,
      arrivals: 'poisson',
      seed: 5,
      timeline: true,
    })
    const failedAfter = r.timeline!.filter((t) => !t.ok && t.atMs >= 40_000).map((t) => t.atMs - 40_000)
    expect(Math.max(0, ...failedAfter)).toBeLessThanOrEqual(2000)
    expect(r.refused).toBe(0)
  })
})
