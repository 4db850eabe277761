import { describe, expect, it } from 'vitest'
import { DEFAULT_AFFINITY, pruneAffinity } from './affinity'
import { cacheAffinityHint, sessionKey } from './cache-keys'
import { createPoolState, decide, record } from './core'
import { mulberry32 } from './random'
import { T0, deployment, dispatched, outcome, pool } from './test-helpers'
import type { RequestEstimate } from './types'

const SYSTEM = { text: 'You are a careful agent. '.repeat(40) }
const point = { cachePoint: { type: 'default' } }
type Msg = { role: string; content: unknown[] }
/** A Converse body whose system prompt and newest message end in breakpoints (how agents cache). */
function converse(history: Msg[]) {
  const messages = history.map((m, i) => (i === history.length - 1 ? { ...m, content: [...m.content, point] } : m))
  return { system: [SYSTEM, point], messages }
}
const est = (body: unknown): RequestEstimate => ({ inputTokens: 100, maxTokens: 100, stream: false, affinity: cacheAffinityHint(body, 'converse') })

describe('prompt-cache keys', () => {
  it('none without a breakpoint or session (and nothing thrown for a body nested past the stack)', () => {
    expect(cacheAffinityHint({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }, 'converse')).toBeUndefined()
    let deep: unknown = { text: 'x' }
    for (let i = 0; i < 20_000; i++) deep = { json: deep }
    const body = { system: [SYSTEM, point], messages: [{ role: 'user', content: [{ toolResult: { toolUseId: 't', content: [deep] } }, point] }] }
    expect(() => cacheAffinityHint(body, 'converse')).not.toThrow()
  })

  it('the next turn looks up the previous turn’s breakpoint, longest first; one remembered key per breakpoint', () => {
    const t1: Msg[] = [{ role: 'user', content: [{ text: 'first question' }] }]
    const h1 = cacheAffinityHint(converse(t1), 'converse')!
    expect(h1.remember.map((r) => r.ttlMs)).toEqual([300_000, 300_000])
    const t2: Msg[] = [...t1, { role: 'assistant', content: [{ text: 'an answer' }] }, { role: 'user', content: [{ text: 'and then?' }] }]
    const h2 = cacheAffinityHint(converse(t2), 'converse')!
    const [systemKey, turn1Key] = h1.remember.map((r) => r.key)
    expect(h2.lookup).toContain(turn1Key)
    expect(h2.lookup.indexOf(turn1Key)).toBeLessThan(h2.lookup.indexOf(systemKey))
    expect(h2.lookup[0]).toBe(h2.remember[h2.remember.length - 1].key)
    // Another conversation with the same system prompt shares only the system prefix.
    const other = cacheAffinityHint(converse([{ role: 'user', content: [{ text: 'something else' }] }]), 'converse')!
    expect(other.lookup).toContain(systemKey)
    expect(other.lookup).not.toContain(turn1Key)
  })

  it('Claude native bodies: cache_control ends the prefix that includes its block; the marker is not part of it; 1 h TTLs', () => {
    const marked = (text: string, ttl?: string) => ({ type: 'text', text, cache_control: { type: 'ephemeral', ...(ttl ? { ttl } : {}) } })
    const t1 = { system: [marked('s'.repeat(300), '1h')], messages: [{ role: 'user', content: [marked('q1')] }] }
    const h1 = cacheAffinityHint(t1, 'anthropic')!
    expect(h1.remember.map((r) => r.ttlMs)).toEqual([3_600_000, 300_000])
    const t2 = { system: t1.system, messages: [{ role: 'user', content: [{ type: 'text', text: 'q1' }] }, { role: 'assistant', content: 'a1' }, { role: 'user', content: [marked('q2')] }] }
    expect(cacheAffinityHint(t2, 'anthropic')!.lookup).toContain(h1.remember[1].key)
  })

  it('a session replaces the prompt keys', () => {
    const h = cacheAffinityHint(converse([{ role: 'user', content: [{ text: 'x' }] }]), 'converse', 'conv-42', 120_000)!
    expect(h).toEqual({ lookup: [sessionKey('conv-42')], remember: [{ key: sessionKey('conv-42'), ttlMs: 120_000 }] })
    expect(sessionKey('conv-42')).not.toBe(sessionKey('conv-43'))
  })
})

describe('affinity in decide', () => {
  const p = pool([deployment('a'), deployment('b'), deployment('c')])
  const t1: Msg[] = [{ role: 'user', content: [{ text: 'first question' }] }]
  const t2: Msg[] = [...t1, { role: 'assistant', content: [{ text: 'an answer' }] }, { role: 'user', content: [{ text: 'and then?' }] }]

  it('every turn of a conversation goes where the first went; other conversations still spread', () => {
    const state = createPoolState(p)
    const rng = mulberry32(5)
    const first = dispatched(decide(p, state, est(converse(t1)), [], T0, rng))
    expect((first as { affinity?: string }).affinity).toBe('new')
    for (let i = 1; i <= 20; i++) {
      const d = decide(p, state, est(converse(t2)), [], T0 + i * 1000, rng)
      expect(d).toMatchObject({ kind: 'dispatch', deploymentId: first.deploymentId, affinity: 'hit' })
      expect((d as { reason: string }).reason).toMatch(/prompt-cache affinity/)
    }
    // Conversations without breakpoints are not affected: still spread by the strategy.
    const spread = new Set<string>()
    for (let i = 0; i < 30; i++) spread.add(dispatched(decide(p, state, { inputTokens: 10, stream: false }, [], T0 + 30_000 + i, rng)).deploymentId)
    expect(spread.size).toBe(3)
  })

  it('expires with the breakpoint’s TTL', () => {
    const state = createPoolState(p)
    const rng = mulberry32(6)
    dispatched(decide(p, state, est(converse(t1)), [], T0, rng))
    expect(decide(p, state, est(converse(t2)), [], T0 + 299_000, rng)).toMatchObject({ affinity: 'hit' })
    // 5 min after the last use (a hit refreshes it), nothing is held any more.
    expect(decide(p, state, est(converse(t2)), [], T0 + 299_000 + 300_001, rng)).toMatchObject({ affinity: 'new' })
  })

  it('spills over, saying why: tried (failover), ejected, paced after a throttle, little headroom, not allowed', () => {
    const rng = mulberry32(7)
    const fresh = (pp = p) => {
      const state = createPoolState(pp)
      const holder = dispatched(decide(pp, state, est(converse(t1)), [], T0, rng)).deploymentId
      return { state, holder }
    }
    // Failover: the holder was tried.
    let { state, holder } = fresh()
    let d = decide(p, state, est(converse(t2)), [holder], T0 + 1000, rng)
    expect(d).toMatchObject({ kind: 'dispatch', affinity: `spill: the cached prefix's holder: ${holder} was tried` })
    // The new deployment holds the keys now: the next turn sticks to it.
    const moved = dispatched(d).deploymentId
    expect(decide(p, state, est(converse(t2)), [], T0 + 2000, rng)).toMatchObject({ deploymentId: moved, affinity: 'hit' })

    // Paced after a throttle.
    ;({ state, holder } = fresh())
    const throttled = decide(p, state, { inputTokens: 1, stream: false, only: [holder] }, [], T0 + 10, rng)
    record(p, state, outcome(throttled, 'throttled'), T0 + 20)
    d = decide(p, state, est(converse(t2)), [], T0 + 30, rng)
    expect((d as { affinity?: string }).affinity).toMatch(new RegExp(`^spill: the cached prefix's holder: ${holder} (is paced|asked for a pause)`))
    expect(dispatched(d).deploymentId).not.toBe(holder)

    // Ejected by its breaker (five failures in a row).
    ;({ state, holder } = fresh())
    for (let i = 0; i < 5; i++) record(p, state, outcome(decide(p, state, { inputTokens: 1, stream: false, only: [holder] }, [], T0 + 10 + i, rng), 'unavailable'), T0 + 10 + i)
    expect(decide(p, state, est(converse(t2)), [], T0 + 100, rng)).toMatchObject({ affinity: `spill: the cached prefix's holder: ${holder} is ejected by its breaker` })

    // Its configured window almost full: less than 10 % left after this request.
    const limited = pool([deployment('a', { rpm: 10 }), deployment('b', { rpm: 10 }), deployment('c', { rpm: 10 })], { strategy: 'rate-limit-aware' })
    ;({ state, holder } = fresh(limited))
    for (let i = 0; i < 8; i++) dispatched(decide(limited, state, { inputTokens: 1, stream: false, only: [holder] }, [], T0 + 10 + i, rng))
    expect(decide(limited, state, est(converse(t2)), [], T0 + 100, rng)).toMatchObject({ affinity: `spill: the cached prefix's holder: ${holder} has 0 % of its window left` })

    // A rule allows only the others.
    ;({ state, holder } = fresh())
    const others = p.deployments.map((x) => x.id).filter((x) => x !== holder)
    expect(decide(p, state, { ...est(converse(t2)), only: others }, [], T0 + 100, rng)).toMatchObject({ affinity: `spill: the cached prefix's holder: ${holder} is not-allowed` })
  })

  it('a prefix several deployments hold constrains nothing among them; a holder far over its share spills', () => {
    const state = createPoolState(p)
    const rng = mulberry32(11)
    // Three conversations sharing one system prompt, each started on a different deployment (a rule pins them).
    for (const id of ['a', 'b', 'c']) dispatched(decide(p, state, { ...est(converse([{ role: 'user', content: [{ text: `start on ${id}` }] }])), only: [id] }, [], T0, rng))
    // A fourth conversation matches only the shared system prefix, which all three hold: the strategy spreads them.
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const d = decide(p, state, est(converse([{ role: 'user', content: [{ text: `new conversation ${i}` }] }])), [], T0 + 1 + i, rng)
      expect(d).toMatchObject({ affinity: 'hit' })
      seen.add(dispatched(d).deploymentId)
    }
    expect(seen.size).toBe(3)

    // One conversation on a busy pool: its holder takes its share and more, then spills rather than pile up.
    const busy = createPoolState(p)
    const holder = dispatched(decide(p, busy, est(converse(t1)), [], T0, rng)).deploymentId
    const t = T0 + 1000
    for (let i = 0; i < 60; i++) dispatched(decide(p, busy, { inputTokens: 1, stream: false, only: [holder] }, [], t + i, rng))
    const d = decide(p, busy, est(converse(t2)), [], t + 100, rng)
    expect((d as { affinity?: string }).affinity).toMatch(new RegExp(`^spill: the cached prefix's holder: ${holder} has taken 61 requests in the last minute, over 2× its share of 20`))
    expect(dispatched(d).deploymentId).not.toBe(holder)
  })

  it('turned off: no keys kept, no preference; a custom ranking is not overridden', () => {
    const off = pool(p.deployments, { affinity: { ...DEFAULT_AFFINITY, enabled: false } })
    const state = createPoolState(off)
    const d = decide(off, state, est(converse(t1)), [], T0, mulberry32(1))
    expect((d as { affinity?: string }).affinity).toBeUndefined()
    expect(state.affinity).toBeUndefined()
    const custom = pool(p.deployments, { strategy: 'custom' })
    const s2 = createPoolState(custom)
    dispatched(decide(custom, s2, { ...est(converse(t1)), ranking: ['a', 'b', 'c'] }, [], T0, mulberry32(1)))
    expect(decide(custom, s2, { ...est(converse(t2)), ranking: ['c', 'b', 'a'] }, [], T0 + 1, mulberry32(1))).toMatchObject({ deploymentId: 'c' })
  })

  it('keeps at most maxEntries keys, dropping the soonest to expire; the state stays plain JSON', () => {
    const small = pool(p.deployments, { affinity: { ...DEFAULT_AFFINITY, maxEntries: 50 } })
    const state = createPoolState(small)
    const rng = mulberry32(3)
    for (let i = 0; i < 200; i++) decide(small, state, est(converse([{ role: 'user', content: [{ text: `conversation ${i}` }] }])), [], T0 + i, rng)
    expect(Object.keys(state.affinity!).length).toBeLessThanOrEqual(50)
    // The newest conversation is still held.
    expect(decide(small, state, est(converse([{ role: 'user', content: [{ text: 'conversation 199' }] }])), [], T0 + 500, rng)).toMatchObject({ affinity: 'hit' })
    expect(JSON.parse(JSON.stringify(state))).toEqual(state)
    pruneAffinity(state, T0 + 10 * 60_000, 50) // under the cap: nothing to do
    expect(Object.keys(state.affinity!).length).toBeLessThanOrEqual(50)
  })
})
