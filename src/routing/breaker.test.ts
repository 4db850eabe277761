import { describe, expect, it } from 'vitest'
import { breakerSignal, createBreakerState, phaseAt, recordBreakerOutcome } from './breaker'
import { decide, record, snapshot } from './core'
import { mulberry32 } from './random'
import { createPoolState } from './state'
import { BREAKER, T0, deployment, dispatched, outcome, pool } from './test-helpers'
import type { OutcomeClass } from './types'

const req = { inputTokens: 10, maxTokens: 10, stream: false }

describe('breaker (pure)', () => {
  it('opens after consecutiveFailures failures in a row', () => {
    const b = createBreakerState()
    for (let i = 0; i < 4; i++) recordBreakerOutcome(b, BREAKER, 'failure', T0 + i * 10_000, undefined)
    expect(b.phase).toBe('closed')
    recordBreakerOutcome(b, BREAKER, 'failure', T0 + 40_000, undefined)
    expect(b.phase).toBe('open')
    expect(b.openUntil).toBe(T0 + 40_000 + BREAKER.cooldownMs)
  })

  it('sporadic failures never open it: a success resets the run, and a raw count means nothing below minRequests', () => {
    const b = createBreakerState()
    // 40 failures in a minute, but never 5 in a row, 40 % of 100: closed
    for (let i = 0; i < 100; i++) recordBreakerOutcome(b, BREAKER, i % 5 < 2 ? 'failure' : 'success', T0 + i * 500, undefined)
    expect(b.phase).toBe('closed')
  })

  it('each repeated ejection lasts longer, up to maxCooldownMs; a long healthy stretch starts again from cooldownMs', () => {
    const config = { ...BREAKER, consecutiveFailures: 1, successesToClose: 1, cooldownMs: 10_000, maxCooldownMs: 25_000 }
    const b = createBreakerState()
    let t = T0
    const ejectAndRecover = () => {
      recordBreakerOutcome(b, config, 'failure', t, undefined)
      const ejection = b.openUntil - t
      t = b.openUntil
      recordBreakerOutcome(b, config, 'success', t, t) // no probe slot taken: does not close
      b.phase = 'half-open'
      b.probes = [t]
      recordBreakerOutcome(b, config, 'success', t, t)
      expect(b.phase).toBe('closed')
      return ejection
    }
    expect([ejectAndRecover(), ejectAndRecover(), ejectAndRecover()]).toEqual([10_000, 20_000, 25_000])
    t += 25_000
    expect(ejectAndRecover()).toBe(10_000)
  })

  it('stays closed when the pool may not eject another deployment', () => {
    const b = createBreakerState()
    for (let i = 0; i < 10; i++) recordBreakerOutcome(b, BREAKER, 'failure', T0 + i, undefined, undefined, false)
    expect(b.phase).toBe('closed')
    recordBreakerOutcome(b, BREAKER, 'failure', T0 + 10, undefined, undefined, true)
    expect(b.phase).toBe('open')
  })

  it('opens on failure rate once minRequests outcomes were seen, not before', () => {
    const config = { ...BREAKER, consecutiveFailures: 1000, failureRate: 0.5, minRequests: 10 }
    const b = createBreakerState()
    let t = T0
    for (let i = 0; i < 4; i++) recordBreakerOutcome(b, config, 'success', (t += 100), undefined)
    for (let i = 0; i < 4; i++) recordBreakerOutcome(b, config, 'failure', (t += 100), undefined)
    expect(b.phase).toBe('closed') // 50% but only 8 outcomes
    recordBreakerOutcome(b, config, 'success', (t += 100), undefined)
    expect(b.phase).toBe('closed') // 4/9
    recordBreakerOutcome(b, config, 'failure', (t += 100), undefined)
    expect(b.phase).toBe('open') // 5/10
  })

  it('a low failure rate does not open it', () => {
    const config = { ...BREAKER, consecutiveFailures: 1000, failureRate: 0.5, minRequests: 10 }
    const b = createBreakerState()
    for (let i = 0; i < 100; i++) recordBreakerOutcome(b, config, i % 3 === 0 ? 'failure' : 'success', T0 + i * 100, undefined)
    expect(b.phase).toBe('closed')
  })

  it('stays open for Retry-After when longer than cooldownMs', () => {
    const b = createBreakerState()
    for (let i = 0; i < 5; i++) recordBreakerOutcome(b, BREAKER, 'failure', T0, undefined, i === 4 ? 120_000 : undefined)
    expect(b.openUntil).toBe(T0 + 120_000)
    expect(phaseAt(b, T0 + 119_999)).toBe('open')
    expect(phaseAt(b, T0 + 120_000)).toBe('half-open')
  })

  it('throttles and client errors are neutral; health failures count', () => {
    const expected: Record<OutcomeClass, string> = {
      success: 'success',
      throttled: 'neutral',
      client: 'neutral',
      unavailable: 'failure',
      timeout: 'failure',
      network: 'failure',
      misconfigured: 'neutral',
    }
    for (const [cls, signal] of Object.entries(expected)) expect(breakerSignal(cls as OutcomeClass)).toBe(signal)
  })
})

describe('breaker (through decide/record)', () => {
  const setup = (breaker = {}) => {
    const p = pool([deployment('a'), deployment('b', { fallback: true })], { breaker: { ...BREAKER, ...breaker } })
    return { p, state: createPoolState(p), rng: mulberry32(1) }
  }

  const failA = (p: ReturnType<typeof setup>['p'], state: ReturnType<typeof setup>['state'], n: number, at: number, cls: OutcomeClass = 'unavailable') => {
    for (let i = 0; i < n; i++) {
      const d = decide(p, state, req, [], at, mulberry32(i))
      expect(dispatched(d).deploymentId).toBe('a')
      record(p, state, outcome(d, cls), at)
    }
  }

  it('an open breaker ejects the deployment: fallbacks serve, and it is still the last resort', () => {
    const { p, state, rng } = setup()
    failA(p, state, 5, T0)
    expect(state.deployments.a.breaker.phase).toBe('open')
    expect(dispatched(decide(p, state, req, [], T0 + 1, rng)).deploymentId).toBe('b')
    expect(snapshot(p, state, T0 + 1)[0]).toMatchObject({ usable: true, preferred: false, softReasons: ['ejected'], breaker: 'open' })
    const last = dispatched(decide(p, state, req, ['b'], T0 + 2, rng))
    expect(last.deploymentId).toBe('a')
    expect((decide(p, state, req, ['b'], T0 + 3, rng) as { reason: string }).reason).toMatch(/last resort/)
  })

  it('never ejects more than maxEjectionPercent of the pool, and never a one-deployment pool', () => {
    const p = pool([deployment('a'), deployment('b'), deployment('c')], { breaker: { ...BREAKER, maxEjectionPercent: 50 } })
    const state = createPoolState(p)
    for (const id of ['a', 'b', 'c']) {
      const others = ['a', 'b', 'c'].filter((x) => x !== id)
      for (let i = 0; i < 10; i++) record(p, state, outcome(decide(p, state, req, others, T0, mulberry32(i)), 'unavailable'), T0)
    }
    expect(['a', 'b', 'c'].map((id) => state.deployments[id].breaker.phase)).toEqual(['open', 'closed', 'closed'])
    const single = pool([deployment('only')], { breaker: { ...BREAKER, maxEjectionPercent: 100 } })
    const s1 = createPoolState(single)
    for (let i = 0; i < 20; i++) record(single, s1, outcome(decide(single, s1, req, [], T0, mulberry32(i)), 'unavailable'), T0)
    expect(s1.deployments.only.breaker.phase).toBe('closed')
  })

  it('panic: with too few healthy deployments, ejected ones are routed to like healthy ones', () => {
    const p = pool([deployment('a'), deployment('b'), deployment('c')], { breaker: { ...BREAKER, panicThreshold: 0.5 } })
    const state = createPoolState(p)
    for (const id of ['a', 'b']) {
      const others = ['a', 'b', 'c'].filter((x) => x !== id)
      for (let i = 0; i < 5; i++) record(p, state, outcome(decide(p, state, req, others, T0, mulberry32(i)), 'unavailable'), T0)
    }
    const rng = mulberry32(3)
    const ids = Array.from({ length: 300 }, (_, i) => dispatched(decide(p, state, req, [], T0 + 1 + i, rng)).deploymentId)
    for (const id of ['a', 'b', 'c']) expect(ids.filter((x) => x === id).length).toBeGreaterThan(60)
    // without panic, only c
    const calm = pool(p.deployments, { breaker: { ...BREAKER, panicThreshold: 0 } })
    expect(new Set(Array.from({ length: 50 }, (_, i) => dispatched(decide(calm, state, req, [], T0 + 1 + i, rng)).deploymentId))).toEqual(new Set(['c']))
  })

  it('throttles never open it', () => {
    const { p, state } = setup()
    for (let i = 0; i < 50; i++) {
      const now = T0 + i * 10_000 // past each throttle cooldown
      const d = decide(p, state, req, [], now, mulberry32(i))
      expect(dispatched(d).deploymentId).toBe('a')
      record(p, state, outcome(d, 'throttled'), now)
    }
    expect(state.deployments.a.breaker.phase).toBe('closed')
    expect(state.deployments.a.breaker.outcomes).toEqual([])
  })

  it('reports only the outcomes within the window', () => {
    const { p, state } = setup()
    failA(p, state, 3, T0)
    expect(snapshot(p, state, T0 + 1000)[0]).toMatchObject({ recentFailures: 3, recentSuccesses: 0 })
    expect(snapshot(p, state, T0 + BREAKER.windowMs + 1000)[0]).toMatchObject({ recentFailures: 0 })
  })

  it('client errors never count', () => {
    const { p, state } = setup()
    failA(p, state, 50, T0, 'client')
    expect(state.deployments.a.breaker.phase).toBe('closed')
    expect(snapshot(p, state, T0)[0].recentFailures).toBe(0)
  })

  it('half-open admits at most halfOpenProbes probes at a time', () => {
    const { p, state, rng } = setup({ halfOpenProbes: 2 })
    failA(p, state, 5, T0)
    const later = T0 + BREAKER.cooldownMs
    const first = dispatched(decide(p, state, req, [], later, rng))
    const second = dispatched(decide(p, state, req, [], later, rng))
    expect([first.deploymentId, second.deploymentId]).toEqual(['a', 'a'])
    expect(first.reservation.probe).toBe(true)
    expect(dispatched(decide(p, state, req, [], later, rng)).deploymentId).toBe('b') // probes busy
    expect(snapshot(p, state, later)[0]).toMatchObject({ breaker: 'half-open', probesInFlight: 2, softReasons: ['half-open-probes-busy'] })
    // a probe that reports frees its slot
    record(p, state, { deploymentId: 'a', reservation: first.reservation, result: { class: 'throttled', status: 429 } }, later + 10)
    expect(state.deployments.a.breaker.probes).toHaveLength(1)
  })

  it('closes after successesToClose probe successes', () => {
    const { p, state, rng } = setup({ successesToClose: 2 })
    failA(p, state, 5, T0)
    let now = T0 + BREAKER.cooldownMs
    for (let i = 0; i < 2; i++) {
      expect(state.deployments.a.breaker.phase).not.toBe('closed')
      const d = decide(p, state, req, [], now, rng)
      expect(dispatched(d).reservation.probe).toBe(true)
      record(p, state, outcome(d, 'success'), (now += 100))
    }
    expect(state.deployments.a.breaker.phase).toBe('closed')
    expect(dispatched(decide(p, state, req, [], now, rng)).reservation.probe).toBeUndefined()
  })

  it('re-opens on a probe failure, honouring Retry-After', () => {
    const { p, state, rng } = setup()
    failA(p, state, 5, T0)
    const now = T0 + BREAKER.cooldownMs
    const d = decide(p, state, req, [], now, rng)
    record(p, state, outcome(d, 'unavailable', { retryAfterMs: 90_000 }), now + 50)
    expect(state.deployments.a.breaker.phase).toBe('open')
    expect(state.deployments.a.breaker.openUntil).toBe(now + 50 + 90_000)
  })

  it('a probe that never reports expires and does not wedge the breaker', () => {
    const { p, state, rng } = setup({ halfOpenProbes: 1 })
    failA(p, state, 5, T0)
    const now = T0 + BREAKER.cooldownMs
    expect(dispatched(decide(p, state, req, [], now, rng)).deploymentId).toBe('a')
    expect(dispatched(decide(p, state, req, [], now + 1000, rng)).deploymentId).toBe('b')
    const expired = now + p.timeoutMs
    const again = dispatched(decide(p, state, req, [], expired, rng))
    expect(again.deploymentId).toBe('a')
    expect(again.reservation.probe).toBe(true)
  })

  it('a late non-probe outcome does not move a half-open breaker', () => {
    const { p, state, rng } = setup()
    const early = decide(p, state, req, [], T0, rng) // in flight while it opens
    failA(p, state, 5, T0 + 1)
    const now = T0 + BREAKER.cooldownMs
    decide(p, state, req, [], now, rng) // probe
    record(p, state, outcome(early, 'success'), now + 1)
    record(p, state, outcome(early, 'unavailable'), now + 2)
    expect(state.deployments.a.breaker.phase).toBe('half-open')
    expect(state.deployments.a.breaker.halfOpenSuccesses).toBe(0)
  })
})
