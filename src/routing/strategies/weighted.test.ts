import { describe, expect, it } from 'vitest'
import { decide, record } from '../core'
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
    const p = pool([deployment('a'), deployment('b'), deployment('f', { fallback: true })], { breaker: { ...BREAKER, consecutiveFailures: 1 } })
    const state = createPoolState(p)
    const rng = mulberry32(3)
    const a = decide(p, state, req, ['b'], T0, rng)
    record(p, state, outcome(a, 'unavailable'), T0) // a: breaker open
    const b = decide(p, state, req, ['a'], T0, rng)
    record(p, state, outcome(b, 'throttled', { retryAfterMs: 2000 }), T0) // b: cooling for 2 s
    expect(dispatched(decide(p, state, req, [], T0 + 1000, rng)).deploymentId).toBe('f')
    expect(dispatched(decide(p, state, req, [], T0 + 2000, rng)).deploymentId).toBe('b')
  })

  it('a throttle lowers a deployment\'s share instead of pausing it, and the share grows back within seconds', () => {
    const p = pool([deployment('a'), deployment('b')])
    const state = createPoolState(p)
    const rng = mulberry32(3)
    // 10 requests/s for 5 s, a throttled on its 5th request
    let t = T0
    const share = (from: number, n: number) => {
      let a = 0
      for (let i = 0; i < n; i++) {
        const d = decide(p, state, req, [], (t = from + i * 100), rng)
        if (dispatched(d).deploymentId === 'a') a++
        record(p, state, outcome(d, 'success'), t + 50)
      }
      return a / n
    }
    expect(share(T0, 20)).toBeGreaterThan(0.3)
    const d = decide(p, state, req, ['b'], (t += 100), rng)
    record(p, state, outcome(d, 'throttled'), t + 10)
    expect(state.deployments.a.pacing.rate).toBeGreaterThan(0)
    const after = share(t + 20, 10) // the next second: a is paced
    expect(after).toBeLessThan(0.5)
    expect(after).toBeGreaterThan(0) // paced, not out
    share(t + 1020, 40) // four seconds of successes
    expect(share(t + 5020, 40)).toBeGreaterThan(0.3)
  })

  it('never refuses on throttles: with every deployment throttled it still sends, waiting up to maxPacingMs for a token', () => {
    const p = pool([deployment('a'), deployment('b')], { maxPacingMs: 0 })
    const state = createPoolState(p)
    const rng = mulberry32(3)
    record(p, state, outcome(decide(p, state, req, ['b'], T0, rng), 'throttled'), T0)
    record(p, state, outcome(decide(p, state, req, ['a'], T0, rng), 'throttled'), T0)
    const now = dispatched(decide(p, state, req, [], T0 + 500, rng))
    expect(now.notBefore).toBeUndefined()
    expect((decide(p, state, req, [], T0 + 501, rng) as { reason: string }).reason).toMatch(/paced after throttles/)
    const paced = pool(p.deployments, { maxPacingMs: 5000 })
    const s2 = createPoolState(paced)
    record(paced, s2, outcome(decide(paced, s2, req, ['b'], T0, rng), 'throttled'), T0)
    record(paced, s2, outcome(decide(paced, s2, req, ['a'], T0, rng), 'throttled'), T0)
    const waits = decide(paced, s2, req, [], T0 + 500, rng)
    expect(waits).toMatchObject({ kind: 'dispatch', wait: 'pace' })
    expect(dispatched(waits).notBefore).toBeGreaterThan(T0 + 500)
    expect(dispatched(waits).notBefore).toBeLessThanOrEqual(T0 + 2000)
    // a failover never waits
    expect(dispatched(decide(paced, s2, req, ['a'], T0 + 501, rng)).notBefore).toBeUndefined()
  })

  it('zero-weight deployments only serve when nothing else is left', () => {
    const p = pool([deployment('a', { weight: 0 }), deployment('b', { weight: 1 })])
    const state = createPoolState(p)
    const rng = mulberry32(9)
    for (let i = 0; i < 200; i++) expect(dispatched(decide(p, state, req, [], T0, rng)).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, req, ['b'], T0, rng)).deploymentId).toBe('a')
  })
})
