import { describe, expect, it } from 'vitest'
import { breakerSignal, createBreakerState, phaseAt, recordBreakerOutcome } from './breaker'
import { decide, record, snapshot } from './engine'
import { mulberry32 } from './random'
import { createPoolState } from './state'
import { BREAKER, T0, deployment, dispatched, outcome, pool } from './test-helpers'
import type { OutcomeClass } from './types'

const req = { inputTokens: 10, maxTokens: 10, stream: false }

describe('breaker (pure)', () => {
  it('opens after failureThreshold failures within windowMs', () => {
    const b = createBreakerState()
    for (let i = 0; i < 4; i++) recordBreakerOutcome(b, BREAKER, 'failure', T0 + i * 10_000, undefined)
    expect(b.phase).toBe('closed')
    recordBreakerOutcome(b, BREAKER, 'failure', T0 + 40_000, undefined)
    expect(b.phase).toBe('open')
    expect(b.openUntil).toBe(T0 + 40_000 + BREAKER.cooldownMs)
  })

  it('forgets failures older than windowMs', () => {
    const b = createBreakerState()
    for (let i = 0; i < 5; i++) recordBreakerOutcome(b, BREAKER, 'failure', T0 + i * 20_000, undefined)
    expect(b.phase).toBe('closed') // never 5 within 60 s
  })

  it('opens on failure rate once minRequests outcomes were seen, not before', () => {
    const config = { ...BREAKER, failureThreshold: 1000, failureRate: 0.5, minRequests: 10 }
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
    const config = { ...BREAKER, failureThreshold: 1000, failureRate: 0.5, minRequests: 10 }
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
      misconfigured: 'failure',
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

  it('an open breaker takes the deployment out; fallbacks serve', () => {
    const { p, state, rng } = setup()
    failA(p, state, 5, T0)
    expect(state.deployments.a.breaker.phase).toBe('open')
    expect(dispatched(decide(p, state, req, [], T0 + 1, rng)).deploymentId).toBe('b')
    expect(snapshot(p, state, T0 + 1)[0]).toMatchObject({ usable: false, reason: 'breaker-open', breaker: 'open' })
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
    expect(snapshot(p, state, later)[0]).toMatchObject({ breaker: 'half-open', probesInFlight: 2, reason: 'half-open-probes-busy' })
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
