import { describe, expect, it } from 'vitest'
import type { PoolConfig, StrategyName } from '../config/types'
import { multiplexerPolicy, naivePolicy, oraclePolicy, simulate, type SimulationReport } from './simulate'
import { BREAKER, deployment, pool } from './test-helpers'

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
