/**
 * Quota groups: deployments that draw on one Bedrock quota share one window. Without the group each member keeps its
 * own window and the pool sends the shared quota twice its size; with it, the group as a whole stays within.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, parseRouterConfig } from '../config/schema'
import { MemoryStateStore } from '../state/memory'
import { createPoolState, decide, prunePoolState, record, snapshot } from './core'
import { mulberry32 } from './random'
import { T0, deployment, outcome, pool } from './test-helpers'
import { windowTotals } from './window'

const req = { inputTokens: 100, maxTokens: 100, stream: false }

function burst(grouped: boolean, n: number) {
  const g = grouped ? { quotaGroup: 'acct-use1-sonnet' } : {}
  const p = pool([deployment('role-a', { rpm: 10, ...g }), deployment('role-b', { rpm: 10, ...g })], { strategy: 'rate-limit-aware' })
  const state = createPoolState(p)
  const rng = mulberry32(3)
  const sent: Record<string, number> = {}
  const refused: string[] = []
  for (let i = 0; i < n; i++) {
    const d = decide(p, state, req, [], T0 + i * 10, rng)
    if (d.kind === 'dispatch') sent[d.deploymentId] = (sent[d.deploymentId] ?? 0) + 1
    else refused.push(d.reason)
  }
  return { p, state, sent, refused }
}

describe('quota groups', () => {
  it('members share one window: a burst gets the quota once, not once per member, then a 429 saying which group is full', () => {
    const alone = burst(false, 30)
    expect(Object.values(alone.sent).reduce((a, b) => a + b, 0)).toBe(20) // each member's window on its own: twice the quota
    const shared = burst(true, 30)
    expect(Object.values(shared.sent).reduce((a, b) => a + b, 0)).toBe(10)
    expect(Object.keys(shared.sent).sort()).toEqual(['role-a', 'role-b']) // still spread over both members
    expect(shared.refused).toHaveLength(20)
    expect(shared.refused[0]).toMatch(/rpm 10/)
  })

  it('a settled attempt gives back its slot to the whole group', () => {
    const { p, state } = burst(true, 10)
    const full = decide(p, state, req, [], T0 + 200, Math.random)
    expect(full.kind).toBe('reject')
    // A throttled answer never counted upstream: its request leaves the shared window.
    const p2 = pool(p.deployments, { strategy: 'weighted' })
    const probe = decide(p2, state, req, [], T0 + 210, Math.random) // weighted keeps no windows: dispatches anyway
    record(p, state, outcome(probe, 'throttled'), T0 + 220)
    expect(windowTotals(state.quotaGroups!['acct-use1-sonnet'], T0 + 230).requests).toBe(10)
    const snap = snapshot(p, state, T0 + 230)
    expect(snap.map((s) => s.quotaGroup?.window.requests)).toEqual([10, 10]) // each member shows the group's window…
    expect(snap[0].window.requests + snap[1].window.requests).toBe(10) // …and its own share of it
    expect(snap[0].window.requests).toBeGreaterThan(0)
  })

  it('survives the state as JSON, and pruning a pool leaves group windows alone (other pools may share them)', () => {
    const { state } = burst(true, 4)
    const copy = JSON.parse(JSON.stringify(state))
    expect(copy.quotaGroups['acct-use1-sonnet']).toEqual(state.quotaGroups!['acct-use1-sonnet'])
    const ungrouped = pool([deployment('role-a', { rpm: 10 }), deployment('role-b', { rpm: 10 })])
    prunePoolState(ungrouped, copy)
    expect(copy.quotaGroups['acct-use1-sonnet']).toEqual(state.quotaGroups!['acct-use1-sonnet'])
  })

  it('pools joined by a group keep their state together; unrelated pools keep their own', () => {
    const d = (id: string, group?: string) => ({ id, modelId: 'm', region: 'us-east-1', rpm: 10, ...(group ? { quotaGroup: group } : {}) })
    const { pools } = parseRouterConfig({
      pools: { chat: { deployments: [d('chat-1', 'g1')] }, batch: { deployments: [d('batch-1', 'g1'), d('batch-2', 'g2')] }, tools: { deployments: [d('tools-1', 'g2')] }, solo: { deployments: [d('solo-1')] } },
    })
    expect(pools.chat.stateKey).toBe('#shared:batch+chat+tools') // chat–batch through g1, batch–tools through g2
    expect(pools.batch.stateKey).toBe(pools.chat.stateKey)
    expect(pools.tools.stateKey).toBe(pools.chat.stateKey)
    expect(pools.solo.stateKey).toBeUndefined()
  })

  it("a throttle of one member paces the group: the failover goes to a deployment of another quota, not to the throttled one's sibling", () => {
    const picks: string[] = []
    for (let seed = 0; seed < 20; seed++) {
      const g = { quotaGroup: 'use1' }
      const p = pool([deployment('a', { ...g, rpm: 100 }), deployment('b', { ...g, rpm: 100, weight: 10 }), deployment('c', { rpm: 100, region: 'us-west-2' })])
      const state = createPoolState(p)
      const rng = mulberry32(seed)
      const first = decide(p, state, req, ['b', 'c'], T0, rng) // a
      record(p, state, outcome(first, 'throttled'), T0 + 5)
      const next = decide(p, state, req, ['a'], T0 + 6, rng)
      if (next.kind === 'dispatch') picks.push(next.deploymentId)
    }
    expect(picks).toHaveLength(20)
    expect(new Set(picks)).toEqual(new Set(['c'])) // b (weight 10, same quota) would otherwise take most
  })

  it('a store shares the group window between pools: two pools of one quota get it once', async () => {
    const d = (id: string) => ({ id, modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', rpm: 10, quotaGroup: 'use1' })
    const { pools } = parseRouterConfig({ pools: { chat: { strategy: 'rate-limit-aware', deployments: [d('chat-1')] }, batch: { strategy: 'rate-limit-aware', deployments: [d('batch-1')] } } })
    const store = new MemoryStateStore(() => T0)
    let sent = 0
    for (let i = 0; i < 20; i++) if ((await store.acquire(i % 2 ? pools.chat : pools.batch, req, [])).kind === 'dispatch') sent++
    expect(sent).toBe(10)
  })

  it("members share one day's tokens: a day quota is spent once by the group, then a 429 naming it until midnight", () => {
    const NOVA = { modelId: 'us.amazon.nova-lite-v1:0', family: 'amazon' }
    const day = (grouped: boolean) => {
      const g = grouped ? { quotaGroup: 'use1' } : {}
      const p = pool([deployment('a', { ...NOVA, ...g, tokensPerDay: 1000 }), deployment('b', { ...NOVA, ...g, tokensPerDay: 1000 })])
      const state = createPoolState(p)
      const rng = mulberry32(5)
      const sent: Record<string, number> = {}
      let refused: ReturnType<typeof decide> | undefined
      for (let i = 0; i < 20; i++) {
        const d = decide(p, state, req, [], T0 + i, rng) // 200 tokens reserved, 200 used
        if (d.kind !== 'dispatch') {
          refused ??= d
          continue
        }
        sent[d.deploymentId] = (sent[d.deploymentId] ?? 0) + 1
        record(p, state, outcome(d, 'success', { usage: { inputTokens: 100, outputTokens: 100 } }), T0 + i)
      }
      return { p, state, sent, refused }
    }
    const total = (sent: Record<string, number>) => Object.values(sent).reduce((a, b) => a + b, 0)
    expect(total(day(false).sent)).toBe(10) // each member its own day: twice the quota
    const shared = day(true)
    expect(total(shared.sent)).toBe(5) // 5 × 200 = 1000: the group's one day
    expect(Object.keys(shared.sent).sort()).toEqual(['a', 'b'])
    expect(shared.refused).toMatchObject({ kind: 'reject', status: 429 })
    if (shared.refused?.kind === 'reject') {
      expect(shared.refused.reason).toMatch(/its 1000 tokens per day are used \(1000\)/)
      expect(shared.refused.retryAfterMs).toBe(Math.floor(T0 / 86_400_000 + 1) * 86_400_000 - (T0 + 5))
    }
    // Each member shows the group's day; no member keeps a day of its own.
    expect(snapshot(shared.p, shared.state, T0 + 30).map((s) => s.tokensToday)).toEqual([{ perDay: 1000, used: 1000, held: 0 }, { perDay: 1000, used: 1000, held: 0 }])
    expect(Object.values(shared.state.deployments).map((ds) => ds.dayTokens)).toEqual([undefined, undefined])
    // The group's day survives the state as JSON, and the next UTC day starts afresh.
    const copy = JSON.parse(JSON.stringify(shared.state))
    expect(decide(shared.p, copy, req, [], T0 + 40, Math.random).kind).toBe('reject')
    expect(decide(shared.p, copy, req, [], Math.floor(T0 / 86_400_000 + 1) * 86_400_000 + 1, Math.random).kind).toBe('dispatch')
  })

  it("a store shares the group's day between pools: two pools of one day quota spend it once", async () => {
    const d = (id: string) => ({ id, modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', tokensPerDay: 1000, quotaGroup: 'use1' })
    const { pools } = parseRouterConfig({ pools: { chat: { deployments: [d('chat-1')] }, batch: { deployments: [d('batch-1')] } } })
    const store = new MemoryStateStore(() => T0)
    let sent = 0
    for (let i = 0; i < 20; i++) {
      const p = i % 2 ? pools.chat : pools.batch
      const decision = await store.acquire(p, req, [])
      if (decision.kind !== 'dispatch') continue
      sent++
      await store.report(p, outcome(decision, 'success', { usage: { inputTokens: 100, outputTokens: 100 } }))
    }
    expect(sent).toBe(5)
  })

  it("a deployment that joins a group today brings its day: what it used counts against the group's day", () => {
    const NOVA = { modelId: 'us.amazon.nova-lite-v1:0', family: 'amazon' }
    const before = pool([deployment('a', { ...NOVA, tokensPerDay: 1000 })])
    const state = createPoolState(before)
    for (let i = 0; i < 3; i++) record(before, state, outcome(decide(before, state, req, [], T0 + i, Math.random), 'success', { usage: { inputTokens: 100, outputTokens: 100 } }), T0 + i)
    const after = pool([deployment('a', { ...NOVA, tokensPerDay: 1000, quotaGroup: 'g' }), deployment('b', { ...NOVA, tokensPerDay: 1000, quotaGroup: 'g' })])
    let sent = 0
    for (let i = 0; i < 10; i++) {
      const d = decide(after, state, req, [], T0 + 10 + i, Math.random)
      if (d.kind !== 'dispatch') continue
      sent++
      record(after, state, outcome(d, 'success', { usage: { inputTokens: 100, outputTokens: 100 } }), T0 + 10 + i)
    }
    expect(sent).toBe(2) // 600 of the day already used by a: 2 × 200 more
    expect(state.deployments.a.dayTokens).toBeUndefined() // taken into the group's, not counted twice
  })

  it('the config names a member whose limits differ from the group, and a group without a quota', () => {
    const config = (a: object, b: object) =>
      JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'm', region: 'us-east-1', quotaGroup: 'g', ...a }, { id: 'b', modelId: 'm', region: 'us-east-1', quotaGroup: 'g', ...b }] } } })
    const problems = (text: string): string[] => {
      try {
        parseRouterConfig(JSON.parse(text))
        return []
      } catch (e) {
        if (e instanceof ConfigError) return e.problems
        throw e
      }
    }
    expect(problems(config({ rpm: 10 }, { rpm: 10 }))).toEqual([])
    expect(problems(config({ rpm: 10 }, { rpm: 20 }))).toEqual([
      'pools.p.deployments[1]: quota group "g" is one quota, but this member states rpm 20 / tpm none / tokensPerDay none and pools.p.deployments[0] rpm 10 / tpm none / tokensPerDay none',
    ])
    expect(problems(config({}, {}))[0]).toMatch(/the group "g" needs its quota/)
    // A day quota is the group's too: every member states the same one (or none), and it is a quota on its own.
    expect(problems(config({ tokensPerDay: 1000 }, { tokensPerDay: 1000 }))).toEqual([])
    expect(problems(config({ rpm: 10, quotaGroup: '__proto__' }, { rpm: 10, quotaGroup: '__proto__' }))).toContain('pools.p.deployments[0].quotaGroup: quotaGroup cannot be __proto__')
    expect(problems(config({ rpm: 10, tokensPerDay: 1000 }, { rpm: 10 }))).toEqual([
      'pools.p.deployments[1]: quota group "g" is one quota, but this member states rpm 10 / tpm none / tokensPerDay none and pools.p.deployments[0] rpm 10 / tpm none / tokensPerDay 1000',
    ])
  })
})
