/** The object's side of leases on bad reports: what a renewal carries is applied only when it is finite. */
import { describe, expect, it } from 'vitest'
import { applyLeaseReport, grantLeases } from './lease'
import { createPoolState, record } from './core'
import { decide } from './decide'
import { deployment, pool, T0 } from './test-helpers'
import { deploymentState } from './state'
import { heldUsd } from './budget'
import { AFFINITY_REFRESH_SLACK_MS, FORGET_KEEP_MS, MAX_AFFINITY_LOG, mergeAffinity } from './affinity'

describe('applyLeaseReport', () => {
  const p = pool([deployment('a', { tokensPerDay: 1000, budgetUsdPerDay: 5 })], { leases: { renewMs: 500, sliceFactor: 1.5 } })
  const ledger = (kind: 'dayTokens' | 'usd', over: Partial<{ release: number; hold: number; used: number; at: number }>) => ({ kind, deploymentId: 'a', at: T0, release: 0, hold: 0, used: 0, ...over })

  it('applies a ledger change: a hold, then a release and a use', () => {
    const state = createPoolState(p)
    applyLeaseReport(p, state, { wants: [], deltas: [], outcomes: [], ledgers: [ledger('dayTokens', { hold: 300 }), ledger('usd', { hold: 0.5 })] }, T0)
    const ds = deploymentState(state, 'a')
    expect(heldUsd(ds.dayTokens!)).toBe(300)
    expect(heldUsd(ds.spend!)).toBe(0.5)
    applyLeaseReport(p, state, { wants: [], deltas: [], outcomes: [], ledgers: [ledger('dayTokens', { release: 300, used: 120 })] }, T0 + 10)
    expect(heldUsd(ds.dayTokens!)).toBe(0)
    expect(ds.dayTokens!.dayUsd).toBe(120)
  })

  it('ignores non-finite amounts and times, and ledgers the deployment does not have', () => {
    const state = createPoolState(p)
    const bad = [ledger('dayTokens', { hold: Infinity }), ledger('dayTokens', { used: Number.NaN }), ledger('usd', { release: -Infinity }), ledger('usd', { at: Number.NaN, hold: 1 })]
    applyLeaseReport(p, state, { wants: [], deltas: [], outcomes: [], ledgers: bad }, T0)
    const ds = deploymentState(state, 'a')
    expect(ds.dayTokens ? heldUsd(ds.dayTokens) + ds.dayTokens.dayUsd : 0).toBe(0)
    expect(ds.spend ? heldUsd(ds.spend) + ds.spend.dayUsd : 0).toBe(0)
    const plain = pool([deployment('a')], { leases: { renewMs: 500, sliceFactor: 1.5 } })
    const other = createPoolState(plain)
    applyLeaseReport(plain, other, { wants: [], deltas: [], outcomes: [], ledgers: [ledger('dayTokens', { hold: 10 }), ledger('usd', { hold: 1 })] }, T0)
    expect(deploymentState(other, 'a').dayTokens).toBeUndefined()
    expect(deploymentState(other, 'a').spend).toBeUndefined()
  })
  it("a view's ledgers hold only holds not yet expired: one left by a dead isolate does not count again, stamped now (a group's day too)", () => {
    const g = pool([deployment('a', { tokensPerDay: 1000, quotaGroup: 'g' }), deployment('own', { tokensPerDay: 1000 }), deployment('x')], { leases: { renewMs: 500, sliceFactor: 1.5 } })
    const state = createPoolState(g)
    // Holds 20 min old (past HELD_TTL_MS) on the group's day and on a deployment's own; only `x` is wanted now.
    applyLeaseReport(g, state, { wants: [], deltas: [], outcomes: [], ledgers: [{ ...ledger('dayTokens', { hold: 500 }), deploymentId: 'a' }, { ...ledger('dayTokens', { hold: 500 }), deploymentId: 'own' }] }, T0)
    const answer = grantLeases(g, state, [{ deploymentId: 'x', requests: 5, tokens: 100 }], 1500, T0 + 20 * 60_000)
    expect(heldUsd(answer.groupDays!.g)).toBe(0)
    expect(heldUsd(answer.views.own.dayTokens!)).toBe(0)
  })
})

describe('affinity in renewals', () => {
  const p = pool([deployment('a'), deployment('b')], { leases: { renewMs: 500, sliceFactor: 1.5 } })
  const none = { wants: [], deltas: [], outcomes: [] }
  const MIN = 60_000

  it("merges an isolate's holders by their latest hold and hands each other isolate only what it has not seen", () => {
    const state = createPoolState(p)
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k1', id: 'a', until: T0 + 5 * MIN }] } }, T0)
    expect(state.affinity?.k1).toEqual({ a: T0 + 5 * MIN })
    // An older hold does not shorten it, and is not news.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k1', id: 'a', until: T0 + 1000 }] } }, T0 + 10)
    expect(state.affinity?.k1).toEqual({ a: T0 + 5 * MIN })
    const b1 = grantLeases(p, state, [], 1500, T0 + 20, { by: 'B' })
    expect(b1.affinity).toEqual({ seq: 1, changes: [{ seq: 1, key: 'k1', id: 'a', until: T0 + 5 * MIN, by: 'A' }] })
    // Not handed back to the isolate that sent it.
    expect(grantLeases(p, state, [], 1500, T0 + 20, { by: 'A' }).affinity).toEqual({ seq: 1, changes: [] })
    // A change in the same millisecond as B's last answer still reaches B (positions, not times).
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k2', id: 'b', until: T0 + 5 * MIN }] } }, T0 + 20)
    expect(grantLeases(p, state, [], 1500, T0 + 20, { by: 'B', since: b1.affinity!.seq }).affinity?.changes.map((c) => c.key)).toEqual(['k2'])
    expect(grantLeases(p, state, [], 1500, T0 + 30, { by: 'B', since: 2 }).affinity?.changes).toEqual([])
    // A position past the log's (the object's state begun again) gets everything.
    expect(grantLeases(p, state, [], 1500, T0 + 30, { by: 'B', since: 99 }).affinity?.changes).toHaveLength(2)
  })

  it('a refresh within the slack is not logged: a hot prefix refreshed by every request does not push real changes out', () => {
    const state = createPoolState(p)
    for (let k = 0; k < 1000; k++) applyLeaseReport(p, state, { ...none, affinity: { by: `i${k % 10}`, held: [{ key: 'hot', id: 'a', until: T0 + k * 10 + 5 * MIN }] } }, T0 + k * 10)
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'new', id: 'b', until: T0 + 20_000 + 5 * MIN }] } }, T0 + 20_000)
    const seen = grantLeases(p, state, [], 1500, T0 + 20_000, { by: 'B' }).affinity!.changes
    expect(seen.map((c) => c.key)).toContain('new')
    expect(seen.filter((c) => c.key === 'hot').length).toBeLessThanOrEqual(1 + 10_000 / AFFINITY_REFRESH_SLACK_MS + 1)
  })

  it('a hold refreshed every 10 s for 6 minutes is still held in what a new isolate receives (shared once per slack, not once)', () => {
    const state = createPoolState(p)
    for (let t = 0; t <= 6 * MIN; t += 10_000) applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'talk', id: 'b', until: T0 + t + 5 * MIN }] } }, T0 + t)
    const now = T0 + 6 * MIN
    const seen = grantLeases(p, state, [], 1500, now, { by: 'B' }).affinity!.changes.filter((c) => c.key === 'talk')
    expect(Math.max(...seen.map((c) => c.until))).toBeGreaterThanOrEqual(now + 5 * MIN - AFFINITY_REFRESH_SLACK_MS)
    // One entry per holder in the log (its latest word), not one per refresh (37 refreshes).
    expect(seen).toHaveLength(1)
    expect(state.affinityLog!.seq).toBeLessThanOrEqual(1 + (6 * MIN) / AFFINITY_REFRESH_SLACK_MS)
  })

  it('an isolate that renews after the log overflowed gets the whole map, not only the newest changes; then the log again', () => {
    const state = createPoolState(p)
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k0', id: 'a', until: T0 + 5 * MIN }] } }, T0)
    const since = grantLeases(p, state, [], 1500, T0, { by: 'B' }).affinity!.seq
    const keys = Array.from({ length: MAX_AFFINITY_LOG + 44 }, (_, i) => `k${i + 1}`)
    for (const [i, key] of keys.entries()) applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key, id: i % 2 ? 'a' : 'b', until: T0 + 5 * MIN }] } }, T0 + i)
    expect(state.affinityLog!.changes).toHaveLength(MAX_AFFINITY_LOG)
    const now = T0 + 1000
    const answer = grantLeases(p, state, [], 1500, now, { by: 'B', since }).affinity!
    // Every key A took since B's last renewal, the 44 the log no longer has among them: the whole map, to replace B's copy.
    expect(answer.full).toBe(true)
    expect(new Set(answer.changes.map((c) => c.key))).toEqual(new Set(['k0', ...keys]))
    expect(answer.changes.find((c) => c.key === 'k1')).toMatchObject({ id: 'b', until: T0 + 5 * MIN })
    // Caught up: the next renewal gets only what is new.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'next', id: 'a', until: T0 + 5 * MIN }] } }, now)
    const caughtUp = grantLeases(p, state, [], 1500, now, { by: 'B', since: answer.seq }).affinity!
    expect(caughtUp.changes.map((c) => c.key)).toEqual(['next'])
    expect(caughtUp.full).toBeUndefined()
    // A forget the log still has comes with the map's holders (the isolate's copy may hold the forgotten one).
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k1', id: 'b', until: now + FORGET_KEEP_MS, forget: true, at: now }] } }, now)
    const resync = grantLeases(p, state, [], 1500, now, { by: 'B', since }).affinity!.changes
    expect(resync.filter((c) => c.key === 'k1')).toMatchObject([{ id: 'b', forget: true }])
    // An isolate that saw everything the bound cut off still gets only the log.
    const late = state.affinityLog!.changes[0].seq - 1
    expect(grantLeases(p, state, [], 1500, now, { by: 'B', since: late }).affinity!.changes).toHaveLength(MAX_AFFINITY_LOG)
  })

  it("a forget (a holder failed a request) reaches the other isolates and takes the holder out of their copies, whatever their holds' ends; holds taken before it are stale, after it news", () => {
    const state = createPoolState(p)
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k', id: 'a', until: T0 + 60 * MIN, at: T0 }] } }, T0)
    const b1 = grantLeases(p, state, [], 1500, T0, { by: 'B' }).affinity!
    const copy = createPoolState(p)
    mergeAffinity(copy, b1.changes, T0, 1000)
    // B's copy holds it with an end of its own (its clock offset, its refreshes): the forget takes it out anyway.
    mergeAffinity(copy, [{ key: 'k', id: 'a', until: T0 + 61 * MIN - 3 }], T0 + 10, 1000)
    // A's forget: the hold A knew ended elsewhere than the object's (offsets move); it still applies.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k', id: 'a', until: T0 + 100 + FORGET_KEEP_MS, forget: true, at: T0 + 100 }] } }, T0 + 100)
    expect(state.affinity?.k).toBeUndefined()
    const b2 = grantLeases(p, state, [], 1500, T0 + 200, { by: 'B', since: b1.seq }).affinity!
    expect(b2.changes).toMatchObject([{ key: 'k', id: 'a', forget: true, at: T0 + 100 }])
    mergeAffinity(copy, b2.changes, T0 + 200, 1000)
    expect(copy.affinity?.k).toBeUndefined()
    // Not handed back to A.
    expect(grantLeases(p, state, [], 1500, T0 + 200, { by: 'A', since: b1.seq }).affinity!.changes).toEqual([])
    // A hold taken before the failure, sent late by an isolate that had not heard of it, is stale: not applied or logged.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'D', held: [{ key: 'k', id: 'a', until: T0 + 60 * MIN + 50, at: T0 + 50 }] } }, T0 + 250)
    expect(state.affinity?.k).toBeUndefined()
    // A success after it, with a shorter TTL than the forgotten hold (a key's holds need not share one), is news.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'C', held: [{ key: 'k', id: 'a', until: T0 + 300 + 5 * MIN, at: T0 + 300 }] } }, T0 + 300)
    expect(state.affinity?.k).toEqual({ a: T0 + 300 + 5 * MIN })
    expect(grantLeases(p, state, [], 1500, T0 + 300, { by: 'B', since: b2.seq }).affinity!.changes).toMatchObject([{ key: 'k', id: 'a', until: T0 + 300 + 5 * MIN }])
    // A forget older than that success (it arrived late) does not undo it.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'E', held: [{ key: 'k', id: 'a', until: T0 + 200 + FORGET_KEEP_MS, forget: true, at: T0 + 200 }] } }, T0 + 400)
    expect(state.affinity?.k).toEqual({ a: T0 + 300 + 5 * MIN })
    // A forget the object's map has no holder for (pruned, or begun again) is logged all the same: copies may hold it.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'gone', id: 'b', until: T0 + 500 + FORGET_KEEP_MS, forget: true, at: T0 + 500 }] } }, T0 + 500)
    expect(grantLeases(p, state, [], 1500, T0 + 500, { by: 'B', since: b2.seq }).affinity!.changes.filter((c) => c.key === 'gone')).toMatchObject([{ id: 'b', forget: true }])
    // Its `at` is never later than the object's now, and it is news for FORGET_KEEP_MS at most.
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'f', id: 'b', until: T0 + 86_000_000, forget: true, at: T0 + 86_000_000 }] } }, T0 + 600)
    expect(state.affinityLog!.changes.at(-1)).toMatchObject({ key: 'f', at: T0 + 600, until: T0 + 600 + FORGET_KEEP_MS })
  })

  it('the object deciding a failover logs the failed holder’s forget itself, and the next renewals hand it on', () => {
    const state = createPoolState(p)
    const est = { inputTokens: 100, maxTokens: 50, stream: false, affinity: { lookup: ['conv'], remember: [{ key: 'conv', ttlMs: 5 * MIN }] } }
    const first = decide(p, state, est, [], T0, () => 0.1)
    if (first.kind !== 'dispatch') throw new Error('refused')
    const since = grantLeases(p, state, [], 1500, T0, { by: 'B' }).affinity!.seq
    const failed = { deploymentId: first.deploymentId, reservation: first.reservation, result: { class: 'unavailable' as const, status: 503 } }
    record(p, state, failed, T0 + 100)
    const second = decide(p, state, est, [first.deploymentId], T0 + 100, () => 0.1)
    if (second.kind !== 'dispatch') throw new Error('refused')
    expect(second.deploymentId).not.toBe(first.deploymentId)
    expect(state.affinity?.conv).toEqual({ [second.deploymentId]: T0 + 100 + 5 * MIN })
    const changes = grantLeases(p, state, [], 1500, T0 + 200, { by: 'B', since }).affinity!.changes
    expect(changes.find((c) => c.id === first.deploymentId)).toMatchObject({ key: 'conv', forget: true, at: T0 + 100 })
    expect(changes.find((c) => c.id === second.deploymentId)).toMatchObject({ key: 'conv', until: T0 + 100 + 5 * MIN })
  })

  it('a log of another shape (not this version’s) is dropped and begun again, not thrown on', () => {
    const state = createPoolState(p)
    ;(state as { affinityLog?: unknown }).affinityLog = [{ at: T0, key: 'old', id: 'a', until: T0 + MIN }]
    expect(grantLeases(p, state, [], 1500, T0).affinity).toBeUndefined()
    ;(state as { affinityLog?: unknown }).affinityLog = [{ at: T0, key: 'old', id: 'a', until: T0 + MIN }]
    applyLeaseReport(p, state, { ...none, affinity: { by: 'A', held: [{ key: 'k', id: 'a', until: T0 + MIN }] } }, T0)
    expect(grantLeases(p, state, [], 1500, T0, { by: 'B' }).affinity?.changes.map((c) => c.key)).toEqual(['k'])
  })

  it('ignores holders of unknown deployments, keys no request makes, and holds non-finite or past a day', () => {
    const state = createPoolState(p)
    const held = [
      { key: 'k', id: 'zz', until: T0 + 1000 },
      { key: 'x'.repeat(65), id: 'a', until: T0 + 1000 },
      { key: 'k', id: 'a', until: Number.NaN },
      { key: 'k', id: 'a', until: Infinity },
      { key: 'k', id: 'b', until: T0 + 2 * 86_400_000 },
      { key: 7 as unknown as string, id: 'a', until: T0 + 1000 },
    ]
    applyLeaseReport(p, state, { ...none, affinity: { held } }, T0)
    expect(state.affinity ?? {}).toEqual({})
    expect(grantLeases(p, state, [], 1500, T0).affinity).toBeUndefined()
  })
})
