import { describe, expect, it } from 'vitest'
import { BETA, createPacingState, FORGET_MS, measuredRate, MIN_RATE, nextTokenAt, recordSend, recordSuccess, recordThrottle } from './pacing'
import { T0 } from './test-helpers'

/** Sends `n` requests evenly over `ms` from `from`; returns the time after the last. */
function send(p: ReturnType<typeof createPacingState>, from: number, n: number, ms: number): number {
  for (let i = 0; i < n; i++) recordSend(p, from + (i * ms) / n)
  return from + ms
}

describe('pacing (adaptive send rate)', () => {
  it('is unpaced until a throttle: every send finds a token', () => {
    const p = createPacingState()
    send(p, T0, 1000, 1000)
    expect(p.rate).toBeNull()
    expect(nextTokenAt(p, T0 + 1000)).toBe(T0 + 1000)
  })

  it('measures the rate really sent', () => {
    const p = createPacingState()
    const t = send(p, T0, 200, 10_000) // 20 req/s for 10 s: the decaying count settles near 20
    expect(measuredRate(p, t)).toBeGreaterThan(17)
    expect(measuredRate(p, t)).toBeLessThan(23)
  })

  it('a throttle cuts the rate to β × the measured send rate, and the next token waits one interval', () => {
    const p = createPacingState()
    const t = send(p, T0, 200, 10_000)
    const measured = measuredRate(p, t)
    recordThrottle(p, t, t - 10)
    expect(p.rate).toBeCloseTo(measured * BETA, 5)
    expect(nextTokenAt(p, t)).toBeCloseTo(t + 1000 / p.rate!, 5)
  })

  it('concurrent throttles of requests sent before the cut cut once', () => {
    const p = createPacingState()
    const t = send(p, T0, 200, 10_000)
    recordThrottle(p, t, t - 10)
    const once = p.rate
    for (let i = 0; i < 10; i++) recordThrottle(p, t + i, t - 5) // in flight when it was cut
    expect(p.rate).toBe(once)
    recordSend(p, t + 500)
    recordThrottle(p, t + 520, t + 500) // sent after the cut: a new signal
    expect(p.rate!).toBeLessThan(once!)
  })

  it('never goes below the floor, however many throttles', () => {
    const p = createPacingState()
    let t = T0
    for (let i = 0; i < 50; i++) {
      recordSend(p, t)
      recordThrottle(p, t + 10, t)
      t += 20
    }
    expect(p.rate).toBe(MIN_RATE)
  })

  it('grows back along the CUBIC curve: back at the rate it was cut from within seconds, then forgotten', () => {
    const p = createPacingState()
    let t = send(p, T0, 100, 10_000) // 10 req/s
    recordThrottle(p, t, t - 1)
    const before = p.maxRate
    // keep sending 10 req/s, all successes
    for (let i = 0; i < 30; i++) {
      recordSend(p, t)
      recordSuccess(p, t + 5)
      t += 100
    }
    // K = ∛(W_max (1 − β) / C) ≈ 1.96 s at 10 req/s: past it, the rate is back above where it was cut
    expect(p.rate!).toBeGreaterThanOrEqual(before * 0.99)
    t += FORGET_MS
    recordSend(p, t)
    recordSuccess(p, t + 5)
    expect(p.rate).toBeNull()
  })

  it('a send without a token does not run the bucket into debt', () => {
    const p = createPacingState()
    send(p, T0, 20, 1000)
    recordThrottle(p, T0 + 1000, T0 + 999)
    for (let i = 0; i < 20; i++) recordSend(p, T0 + 1000) // sent anyway (nothing better)
    expect(p.tokens).toBe(0)
    expect(nextTokenAt(p, T0 + 1000)).toBeCloseTo(T0 + 1000 + 1000 / p.rate!, 5)
  })

  it('stays plain finite JSON', () => {
    const p = createPacingState()
    send(p, T0, 10, 1000)
    recordThrottle(p, T0 + 1000, T0 + 990)
    recordSuccess(p, T0 + 2000)
    const copy = JSON.parse(JSON.stringify(p))
    expect(copy).toEqual(p)
    for (const v of Object.values(p)) if (v !== null) expect(Number.isFinite(v)).toBe(true)
  })
})
