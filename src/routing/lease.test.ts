/** The object's side of leases on bad reports: what a renewal carries is applied only when it is finite. */
import { describe, expect, it } from 'vitest'
import { applyLeaseReport } from './lease'
import { createPoolState } from './core'
import { deployment, pool, T0 } from './test-helpers'
import { deploymentState } from './state'
import { heldUsd } from './budget'

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
})
