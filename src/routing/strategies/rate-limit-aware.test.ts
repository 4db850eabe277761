import { describe, expect, it } from 'vitest'
import { decide, record, snapshot } from '../core'
import { mulberry32 } from '../random'
import { createPoolState } from '../state'
import { T0, deployment, dispatched, outcome, pool, tally } from '../test-helpers'
import type { PoolState } from '../types'
import { windowTotals } from '../window'

const small = { inputTokens: 100, maxTokens: 100, stream: false }

function fill(p: ReturnType<typeof pool>, state: PoolState, id: string, n: number, at: number) {
  for (let i = 0; i < n; i++) {
    const others = p.deployments.map((d) => d.id).filter((x) => x !== id)
    expect(dispatched(decide(p, state, small, others, at, mulberry32(i))).deploymentId).toBe(id)
  }
}

describe('rate-limit-aware strategy', () => {
  it('picks the deployment with the most headroom', () => {
    const p = pool([deployment('a', { rpm: 10 }), deployment('b', { rpm: 10 }), deployment('c', { rpm: 100 })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    fill(p, state, 'a', 5, T0)
    fill(p, state, 'b', 2, T0)
    fill(p, state, 'c', 60, T0)
    // headroom after this request: a 40%, b 70%, c 39%
    for (let seed = 0; seed < 50; seed++) {
      const copy = structuredClone(state)
      expect(dispatched(decide(p, copy, small, [], T0 + 10, mulberry32(seed))).deploymentId).toBe('b')
    }
  })

  it('takes the tighter of rpm and tpm headroom', () => {
    const p = pool([deployment('a', { rpm: 100, tpm: 10_000 }), deployment('b', { rpm: 10, tpm: 1_000_000 })], {
      strategy: 'rate-limit-aware',
    })
    const state = createPoolState(p)
    fill(p, state, 'a', 40, T0) // rpm 59% left, tpm 0.2 → 18% left after the next request
    fill(p, state, 'b', 3, T0) // rpm 60% left
    for (let seed = 0; seed < 50; seed++) {
      expect(dispatched(decide(p, structuredClone(state), small, [], T0, mulberry32(seed))).deploymentId).toBe('b')
    }
  })

  it('spreads load over equally free deployments', () => {
    const p = pool([deployment('a', { rpm: 1000 }), deployment('b', { rpm: 1000 }), deployment('c', { rpm: 1000 })], {
      strategy: 'rate-limit-aware',
    })
    const state = createPoolState(p)
    const rng = mulberry32(5)
    const ids: string[] = []
    for (let i = 0; i < 900; i++) ids.push(dispatched(decide(p, state, small, [], T0 + i * 10, rng)).deploymentId)
    const counts = tally(ids)
    for (const id of ['a', 'b', 'c']) expect(Math.abs(counts[id] - 300)).toBeLessThan(30)
  })

  it('reserves input + maxTokens, or the model output cap when maxTokens is unset', () => {
    const p = pool([deployment('a', { modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    expect(dispatched(decide(p, state, { inputTokens: 500, maxTokens: 1000, stream: false }, [], T0, Math.random)).reservation.tokens).toBe(1500)
    expect(dispatched(decide(p, state, { inputTokens: 500, stream: false }, [], T0, Math.random)).reservation.tokens).toBe(64_500)
    expect(windowTotals(state.deployments.a.usage, T0)).toMatchObject({ requests: 2, tokens: 66_000 })
  })

  it('skips a deployment this request would overflow and crosses to the other region', () => {
    const home = deployment('home', { region: 'us-east-1', tpm: 100_000 })
    const away = deployment('away', { region: 'us-west-2', tpm: 100_000, fallback: true })
    const p = pool([home, away], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    const big = { inputTokens: 20_000, maxTokens: 20_000, stream: false }
    const ids = [0, 1, 2].map((i) => dispatched(decide(p, state, big, [], T0 + i, mulberry32(i))).deploymentId)
    expect(ids).toEqual(['home', 'home', 'away']) // 80k used at home: another 40k would overflow it
    // a small one still fits at home
    expect(dispatched(decide(p, state, { inputTokens: 100, maxTokens: 100, stream: false }, [], T0 + 3, mulberry32(1))).deploymentId).toBe('home')
  })

  it('rejects with 429 and a Retry-After of when the soonest window frees enough', () => {
    const p = pool([deployment('a', { rpm: 2 }), deployment('b', { rpm: 3 })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    fill(p, state, 'a', 2, T0)
    fill(p, state, 'b', 3, T0 + 5_000)
    const d = decide(p, state, small, [], T0 + 10_000, mulberry32(1))
    // a's requests (at T0) count for 60 s
    expect(d).toMatchObject({ kind: 'reject', status: 429, errorType: 'ThrottlingException', retryAfterMs: 50_000 })
    expect(snapshot(p, state, T0 + 10_000).map((s) => s.reason)).toEqual(['window-full', 'window-full'])
  })

  it('rejects a request larger than every tpm with 429', () => {
    const p = pool([deployment('a', { tpm: 1000 })], { strategy: 'rate-limit-aware' })
    const d = decide(p, createPoolState(p), { inputTokens: 5000, maxTokens: 10, stream: false }, [], T0, Math.random)
    expect(d).toMatchObject({ kind: 'reject', status: 429, reason: expect.stringContaining('exceeds') })
  })

  it('queues first come, first served within maxQueueMs, reserving at the future moment', () => {
    const p = pool([deployment('a', { rpm: 2 })], { strategy: 'rate-limit-aware', maxQueueMs: 70_000 })
    const state = createPoolState(p)
    fill(p, state, 'a', 2, T0)
    const first = dispatched(decide(p, state, small, [], T0 + 1000, Math.random))
    const second = dispatched(decide(p, state, small, [], T0 + 2000, Math.random))
    expect(first.notBefore).toBe(T0 + 60_000)
    expect(first.reservation.at).toBe(T0 + 60_000)
    expect(second.notBefore).toBe(T0 + 60_000)
    // the window at T0+60 s is now full with the two queued requests: the next one is past the bound
    const third = decide(p, state, small, [], T0 + 3000, Math.random)
    expect(third).toMatchObject({ kind: 'reject', status: 429, retryAfterMs: 120_000 - 3000 })
    expect(snapshot(p, state, T0 + 3000)[0].window).toMatchObject({ requests: 2, queuedRequests: 2 })
  })

  it('does not queue past maxQueueMs, not even to the middle of a second', () => {
    const p = pool([deployment('a', { rpm: 1 })], { strategy: 'rate-limit-aware', maxQueueMs: 1000 })
    const state = createPoolState(p)
    dispatched(decide(p, state, small, [], T0, Math.random)) // the window frees at T0 + 60 s
    expect(decide(p, state, small, [], T0 + 58_700, Math.random)).toMatchObject({ kind: 'reject', status: 429, retryAfterMs: 1300 })
    expect(dispatched(decide(p, state, small, [], T0 + 59_100, Math.random))).toMatchObject({ notBefore: T0 + 60_000, wait: 'queue' })
  })

  it('a later arrival does not jump the queue', () => {
    const p = pool([deployment('a', { rpm: 2 })], { strategy: 'rate-limit-aware', maxQueueMs: 120_000 })
    const state = createPoolState(p)
    fill(p, state, 'a', 1, T0)
    fill(p, state, 'a', 1, T0 + 30_000)
    const queued = dispatched(decide(p, state, small, [], T0 + 40_000, Math.random))
    expect(queued.notBefore).toBe(T0 + 60_000)
    // The place freed at T0+60 s is taken by the queued request: a newcomer waits for the next one (T0+30 s leaving).
    const later = dispatched(decide(p, state, small, [], T0 + 50_000, Math.random))
    expect(later.notBefore).toBe(T0 + 90_000)
  })

  it('never over-commits any window, whatever the arrival pattern', () => {
    const limits = { rpm: 7, tpm: 20_000 }
    const p = pool([deployment('a', limits), deployment('b', { ...limits, fallback: true })], {
      strategy: 'rate-limit-aware',
      maxQueueMs: 45_000,
    })
    // Arrivals up to 4 s apart, then the same with bursts of near-simultaneous arrivals.
    for (const gap of [() => 4000, (i: number) => (i % 50 < 25 ? 400 : 4000)]) {
      const state = createPoolState(p)
      const rng = mulberry32(11)
      let now = T0
      let queued = 0
      const sent: Record<string, { at: number; tokens: number }[]> = { a: [], b: [] }
      for (let i = 0; i < 400; i++) {
        now += Math.floor(rng() * gap(i))
        const req = { inputTokens: 100 + Math.floor(rng() * 3000), maxTokens: 1 + Math.floor(rng() * 2000), stream: false }
        const d = decide(p, state, req, [], now, rng)
        if (d.kind === 'dispatch') {
          if (d.notBefore) queued++
          sent[d.deploymentId].push({ at: d.reservation.at, tokens: d.reservation.tokens })
        }
      }
      expect(queued).toBeGreaterThan(20)
      for (const id of ['a', 'b']) {
        // The engine's own view, at every moment its window changes...
        const usage = state.deployments[id].usage
        for (const at of usage.flatMap((bucket) => [bucket.first, bucket.last + 60_000 - 1])) {
          const w = windowTotals(usage, at)
          expect(w.requests).toBeLessThanOrEqual(limits.rpm)
          expect(w.tokens).toBeLessThanOrEqual(limits.tpm)
        }
        // ...and Bedrock's: when each request arrives, the requests of the last 60 s (itself included) fit.
        for (const { at } of sent[id]) {
          const window = sent[id].filter((x) => x.at <= at && x.at > at - 60_000)
          expect(window.length).toBeLessThanOrEqual(limits.rpm)
          expect(window.reduce((n, x) => n + x.tokens, 0)).toBeLessThanOrEqual(limits.tpm)
        }
      }
    }
  })

  it('a 429 below the configured limits (a shared quota) paces the deployment; the configured limits stay the only hard ones', () => {
    const p = pool([deployment('a', { rpm: 100 }), deployment('b', { rpm: 100, fallback: true })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    const rng = mulberry32(2)
    for (let i = 0; i < 10; i++) record(p, state, outcome(decide(p, state, small, [], T0 + i * 100, rng), 'success', { usage: { inputTokens: 10, outputTokens: 10 } }), T0 + i * 100)
    const throttled = decide(p, state, small, [], T0 + 2000, rng)
    expect(dispatched(throttled).deploymentId).toBe('a')
    record(p, state, outcome(throttled, 'throttled'), T0 + 2000)
    const [view] = snapshot(p, state, T0 + 2000)
    expect(view).toMatchObject({ usable: true, reason: null, preferred: false, softReasons: ['paced'], limits: { configuredRpm: 100 } })
    expect(view.pacing.rateRps).toBeGreaterThan(0)
    // while a waits for its next send token the fallback takes the overflow; a is never out
    expect(dispatched(decide(p, state, small, [], T0 + 2001, rng)).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, small, ['b'], T0 + 2002, rng)).deploymentId).toBe('a')
    // successes bring it back within seconds
    let now = T0 + 4000
    for (let i = 0; i < 30; i++) {
      now += 200
      record(p, state, outcome(decide(p, state, small, [], now, rng), 'success', { usage: { inputTokens: 10, outputTokens: 10 } }), now + 50)
    }
    expect(snapshot(p, state, now + 200)[0].preferred).toBe(true)
    // the configured limit is hard: 100 requests in the window and a is out, whatever its pacing says
    for (let i = 0; i < 200; i++) decide(p, state, small, ['b'], now + 300, rng)
    expect(snapshot(p, state, now + 300)[0]).toMatchObject({ usable: false, reason: 'window-full' })
  })

  it('a deployment without configured limits is paced after a 429, never refused', () => {
    const p = pool([deployment('a')], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    const rng = mulberry32(2)
    for (let i = 0; i < 500; i++) expect(dispatched(decide(p, state, small, [], T0, rng)).deploymentId).toBe('a')
    expect(snapshot(p, state, T0)[0].limits.configuredRpm).toBeNull()
    record(p, state, outcome(decide(p, state, small, [], T0 + 1, rng), 'throttled'), T0 + 1)
    expect(snapshot(p, state, T0 + 1)[0].softReasons).toEqual(['paced'])
    for (let i = 0; i < 50; i++) expect(decide(p, state, small, [], T0 + 2 + i, rng).kind).toBe('dispatch')
  })

  it('releases the reservation of a throttled or failed attempt, settles a success to its real usage', () => {
    const p = pool([deployment('a', { tpm: 1_000_000, modelId: 'us.anthropic.claude-sonnet-4-20250514-v1:0' })], {
      strategy: 'rate-limit-aware',
    })
    const state = createPoolState(p)
    const rng = mulberry32(2)
    const req = { inputTokens: 1000, maxTokens: 4000, stream: false }
    const ok = decide(p, state, req, [], T0, rng)
    const refused = decide(p, state, req, [], T0, rng)
    const broken = decide(p, state, req, [], T0, rng)
    const lost = decide(p, state, req, [], T0, rng)
    expect(windowTotals(state.deployments.a.usage, T0)).toMatchObject({ requests: 4, tokens: 20_000 })
    record(p, state, outcome(refused, 'throttled'), T0 + 10)
    record(p, state, outcome(broken, 'unavailable'), T0 + 10)
    record(p, state, outcome(lost, 'timeout'), T0 + 10) // Bedrock may have counted it: kept
    record(p, state, outcome(ok, 'success', { usage: { inputTokens: 900, outputTokens: 200, cacheWriteInputTokens: 100, cacheReadInputTokens: 5000 } }), T0 + 10)
    // ok settles to 900 + 100 + 200 × 5 (Claude Sonnet 4 burns output 5×)
    expect(windowTotals(state.deployments.a.usage, T0 + 10)).toMatchObject({ requests: 2, tokens: 2000 + 5000 })
  })
})
