import { describe, expect, it } from 'vitest'
import { budgetBlock, createSpendState, HELD_TTL_MS, holdSpend, ledgerLive, refreshSpend, settleSpend } from './budget'
import { costUsd } from './cost'
import { decide, record } from './core'
import { createPoolState } from './state'
import { deployment, pool, T0 } from './test-helpers'
import type { Decision, RequestEstimate } from './types'

// At Sonnet 4.5's built-in price (about $3 / $15 per million tokens): SMALL holds about $0.018, `usage` costs about $0.0045.
const SMALL: RequestEstimate = { inputTokens: 1000, maxTokens: 1000, stream: false }
const usage = { inputTokens: 1000, outputTokens: 100 }
const HOLD = costUsd(deployment('x'), { inputTokens: 1000, outputTokens: 1000 })!
const COST = costUsd(deployment('x'), usage)!

function dispatched(d: Decision) {
  if (d.kind !== 'dispatch') throw new Error(`expected dispatch, got ${JSON.stringify(d)}`)
  return d
}

describe('budgets in the routing core', () => {
  it('holds the estimate, settles to the real cost, and refuses once the day is spent until the next UTC day', () => {
    const p = pool([deployment('a', { budgetUsdPerDay: 0.01 })])
    const state = createPoolState(p)
    const first = dispatched(decide(p, state, SMALL, [], T0, () => 0.5))
    expect(first.reservation.usd).toBeCloseTo(HOLD, 12)
    // The hold alone fills the budget: a second request waits for it to settle (a short Retry-After).
    const held = decide(p, state, SMALL, [], T0 + 10, () => 0.5)
    expect(held).toMatchObject({ kind: 'reject', status: 429, reason: expect.stringContaining('held by requests in flight') })
    if (held.kind === 'reject') expect(held.retryAfterMs).toBeLessThanOrEqual(1000)
    record(p, state, { deploymentId: 'a', reservation: first.reservation, result: { class: 'success', status: 200 }, usage }, T0 + 100)
    expect(state.deployments.a.spend).toMatchObject({ dayUsd: expect.closeTo(COST, 12), held: [] })
    // About $0.005 of $0.01 spent: admitted (the last one may overshoot by its own cost), then spent.
    const second = dispatched(decide(p, state, SMALL, [], T0 + 200, () => 0.5))
    record(p, state, { deploymentId: 'a', reservation: second.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 1000, outputTokens: 500 } }, T0 + 300)
    const spent = decide(p, state, SMALL, [], T0 + 400, () => 0.5)
    expect(spent).toMatchObject({ kind: 'reject', status: 429, reason: expect.stringContaining('budget of $0.01 per day is spent') })
    const nextDay = Math.floor(T0 / 86_400_000) * 86_400_000 + 86_400_000
    if (spent.kind === 'reject') expect(T0 + 400 + spent.retryAfterMs).toBe(nextDay)
    // A new UTC day: a fresh budget.
    dispatched(decide(p, state, SMALL, [], nextDay + 1, () => 0.5))
  })

  it('a request Bedrock refused costs nothing; one that may have run costs its hold', () => {
    const p = pool([deployment('a', { budgetUsdPerDay: 1 })])
    const state = createPoolState(p)
    const a = dispatched(decide(p, state, SMALL, [], T0, () => 0.5))
    record(p, state, { deploymentId: 'a', reservation: a.reservation, result: { class: 'throttled', status: 429 } }, T0 + 1)
    expect(state.deployments.a.spend!.dayUsd).toBe(0)
    const b = dispatched(decide(p, state, SMALL, [], T0 + 2, () => 0.5))
    record(p, state, { deploymentId: 'a', reservation: b.reservation, result: { class: 'timeout', status: 504 } }, T0 + 3)
    expect(state.deployments.a.spend!.dayUsd).toBeCloseTo(HOLD, 12)
  })

  it('a caller-priced outcome (a client window) spends what the caller says', () => {
    const p = pool([deployment('w', { modelId: 'client-limit', family: 'client', budgetUsdPerMonth: 5 })])
    const state = createPoolState(p)
    const d = dispatched(decide(p, state, { ...SMALL, costUsd: 0.5 }, [], T0, () => 0.5))
    expect(d.reservation.usd).toBe(0.5)
    record(p, state, { deploymentId: 'w', reservation: d.reservation, result: { class: 'success', status: 200 }, usage, costUsd: 0.25 }, T0 + 1)
    expect(state.deployments.w.spend).toMatchObject({ monthUsd: 0.25, held: [] })
  })

  it('a budget-spent deployment is skipped for another with room, and never counts as unhealthy', () => {
    const p = pool([deployment('a', { budgetUsdPerDay: 0 }), deployment('b')])
    const state = createPoolState(p)
    for (let i = 0; i < 5; i++) expect(dispatched(decide(p, state, SMALL, [], T0 + i, () => 0)).deploymentId).toBe('b')
  })

  it('periods roll over and holds that never report expire', () => {
    const spend = createSpendState(T0)
    holdSpend(spend, T0, 2)
    settleSpend(spend, undefined, 3, T0)
    expect(budgetBlock(spend, { day: 5 }, T0)).toMatchObject({ period: 'day' })
    refreshSpend(spend, T0 + HELD_TTL_MS + 1000)
    expect(spend.held).toEqual([])
    expect(budgetBlock(spend, { day: 5 }, T0 + HELD_TTL_MS + 1000)).toBeNull()
    const monthLater = Date.UTC(new Date(T0).getUTCFullYear(), new Date(T0).getUTCMonth() + 1, 2)
    refreshSpend(spend, monthLater)
    expect(spend).toMatchObject({ dayUsd: 0, monthUsd: 0 })
  })

  it('state persisted without spend (an earlier version) gains it on first use', () => {
    const p = pool([deployment('a', { budgetUsdPerDay: 1 })])
    const state = createPoolState(p)
    const persisted = state.deployments.a
    delete persisted.spend
    dispatched(decide(p, state, SMALL, [], T0, () => 0.5))
    expect(state.deployments.a.spend?.held).toHaveLength(1)
  })
})

describe('ledgerLive: whether stored state must outlive an idle spell', () => {
  const DAY = 86_400_000
  it('spend of the current day (or, for a budget, month) and unexpired holds count; yesterday, last month and expired holds do not', () => {
    const spent = createSpendState(T0)
    settleSpend(spent, undefined, 5, T0)
    expect(ledgerLive(spent, T0 + 1, 'day')).toBe(true)
    const tomorrow = Math.floor(T0 / DAY + 1) * DAY + 1
    expect(ledgerLive(spent, tomorrow, 'day')).toBe(false) // a day's tokens: only the day counts
    expect(ledgerLive(spent, tomorrow, 'month')).toBe(new Date(tomorrow).getUTCMonth() === new Date(T0).getUTCMonth())
    expect(ledgerLive(spent, T0 + 40 * DAY, 'month')).toBe(false)
    const held = createSpendState(T0)
    holdSpend(held, T0, 3)
    expect(ledgerLive(held, T0 + 1, 'day')).toBe(true)
    expect(ledgerLive(held, T0 + HELD_TTL_MS + 2000, 'day')).toBe(false) // a hold that never settled stops counting
    expect(ledgerLive(undefined, T0, 'month')).toBe(false)
  })
})
