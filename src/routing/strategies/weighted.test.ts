import { describe, expect, it } from 'vitest'
import { decide, record } from '../engine'
import { mulberry32 } from '../random'
import { createPoolState } from '../state'
import { BREAKER, T0, deployment, dispatched, outcome, pool, tally } from '../test-helpers'

const req = { inputTokens: 100, maxTokens: 100, stream: false }

describe('weighted strategy', () => {
  it('draws in proportion to the weights', () => {
    const p = pool([deployment('a', { weight: 1 }), deployment('b', { weight: 2 }), deployment('c', { weight: 7 })])
    const state = createPoolState(p)
    const rng = mulberry32(42)
    const ids: string[] = []
    for (let i = 0; i < 10_000; i++) ids.push(dispatched(decide(p, state, req, [], T0 + i, rng)).deploymentId)
    const counts = tally(ids)
    expect(counts.a / 10_000).toBeCloseTo(0.1, 1)
    expect(counts.b / 10_000).toBeCloseTo(0.2, 1)
    expect(counts.c / 10_000).toBeCloseTo(0.7, 1)
  })

  it('never sends primary traffic to fallbacks while a primary is usable', () => {
    const p = pool([deployment('a'), deployment('b'), deployment('f', { fallback: true, weight: 100 })])
    const state = createPoolState(p)
    const rng = mulberry32(1)
    const ids: string[] = []
    for (let i = 0; i < 1000; i++) ids.push(dispatched(decide(p, state, req, [], T0 + i, rng)).deploymentId)
    expect(tally(ids).f).toBeUndefined()
  })

  it('uses fallbacks once every primary was tried, and never a tried deployment', () => {
    const p = pool([deployment('a'), deployment('b'), deployment('f', { fallback: true })])
    const state = createPoolState(p)
    const rng = mulberry32(1)
    for (let i = 0; i < 100; i++) expect(dispatched(decide(p, state, req, ['a'], T0, rng)).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, req, ['a', 'b'], T0, rng)).deploymentId).toBe('f')
    const none = decide(p, state, req, ['a', 'b', 'f'], T0, rng)
    expect(none).toMatchObject({ kind: 'reject', status: 503, errorType: 'ServiceUnavailableException' })
  })

  it('uses fallbacks while the primaries are open or cooling down', () => {
    const p = pool([deployment('a'), deployment('b'), deployment('f', { fallback: true })], { breaker: { ...BREAKER, failureThreshold: 1 } })
    const state = createPoolState(p)
    const rng = mulberry32(3)
    const a = decide(p, state, req, ['b'], T0, rng)
    record(p, state, outcome(a, 'unavailable'), T0) // a: breaker open
    const b = decide(p, state, req, ['a'], T0, rng)
    record(p, state, outcome(b, 'throttled', { retryAfterMs: 2000 }), T0) // b: cooling for 2 s
    expect(dispatched(decide(p, state, req, [], T0 + 1000, rng)).deploymentId).toBe('f')
    expect(dispatched(decide(p, state, req, [], T0 + 2000, rng)).deploymentId).toBe('b')
  })

  it('cools a throttled deployment briefly: 1 s, growing with consecutive throttles', () => {
    const p = pool([deployment('a'), deployment('f', { fallback: true })])
    const state = createPoolState(p)
    const rng = mulberry32(3)
    record(p, state, outcome(decide(p, state, req, [], T0, rng), 'throttled'), T0)
    expect(dispatched(decide(p, state, req, [], T0 + 999, rng)).deploymentId).toBe('f')
    const again = decide(p, state, req, [], T0 + 1000, rng)
    expect(dispatched(again).deploymentId).toBe('a')
    record(p, state, outcome(again, 'throttled'), T0 + 1000)
    expect(dispatched(decide(p, state, req, [], T0 + 2999, rng)).deploymentId).toBe('f')
    expect(dispatched(decide(p, state, req, [], T0 + 3000, rng)).deploymentId).toBe('a')
  })

  it('answers 429 with the soonest cooldown end when every deployment is throttled', () => {
    const p = pool([deployment('a'), deployment('b')])
    const state = createPoolState(p)
    const rng = mulberry32(3)
    record(p, state, outcome(decide(p, state, req, ['b'], T0, rng), 'throttled', { retryAfterMs: 4000 }), T0)
    record(p, state, outcome(decide(p, state, req, ['a'], T0, rng), 'throttled', { retryAfterMs: 2500 }), T0)
    expect(decide(p, state, req, [], T0 + 500, rng)).toMatchObject({
      kind: 'reject',
      status: 429,
      errorType: 'ThrottlingException',
      retryAfterMs: 2000,
    })
  })

  it('zero-weight deployments only serve when nothing else is left', () => {
    const p = pool([deployment('a', { weight: 0 }), deployment('b', { weight: 1 })])
    const state = createPoolState(p)
    const rng = mulberry32(9)
    for (let i = 0; i < 200; i++) expect(dispatched(decide(p, state, req, [], T0, rng)).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, req, ['b'], T0, rng)).deploymentId).toBe('a')
  })
})
