/**
 * USD budgets per UTC day and calendar month, kept in a deployment's state beside its window. A client's limits
 * (engine/client-limits.ts) are one such deployment, so a client's budget holds wherever its window does: globally.
 *
 * A request is admitted while the period's committed spend — settled spend plus what requests in flight have
 * reserved — is below the budget; it reserves its estimated cost (input + output cap at the deployment's price, or
 * the estimate's own `costUsd`), and is settled to its real cost when it reports. So the only overshoot is the
 * last request admitted (one per isolate while the shared store is unreachable and isolates decide on their own),
 * by at most its own cost, and a request whose cap alone exceeds the budget still runs on a fresh budget instead of
 * never running. A reservation that never reports (its isolate died) stops counting after HELD_TTL_MS.
 */
import type { DeploymentConfig } from '../config/types'
import { costUsd } from './cost'
import { maxOutputTokensOf, priceOf } from './models'
import type { RequestEstimate, Reservation, TokenUsage } from './types'

/** A reservation no report has settled after this long is dropped (its request cannot still be running). */
export const HELD_TTL_MS = 15 * 60_000
/** Held spend is kept per slot of this length (bounded state at any concurrency). */
const HELD_SLOT_MS = 1000

export interface SpendState {
  /** Start of the current UTC day and month (epoch ms), and what was spent in each. */
  dayStart: number
  dayUsd: number
  monthStart: number
  monthUsd: number
  /** Reserved by requests in flight, per slot of their reservation time. */
  held: Array<{ slot: number; usd: number }>
}

export interface Budgets {
  day?: number
  month?: number
}

export function budgetsOf(deployment: DeploymentConfig): Budgets | undefined {
  const { budgetUsdPerDay: day, budgetUsdPerMonth: month } = deployment
  return day === undefined && month === undefined ? undefined : { day, month }
}

export function utcDayStart(now: number): number {
  return Math.floor(now / 86_400_000) * 86_400_000
}

export function utcMonthStart(now: number): number {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

function nextMonthStart(now: number): number {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
}

export function createSpendState(now: number): SpendState {
  return { dayStart: utcDayStart(now), dayUsd: 0, monthStart: utcMonthStart(now), monthUsd: 0, held: [] }
}

/** Moves the periods along to `now` and drops expired holds, in place. */
export function refreshSpend(spend: SpendState, now: number): void {
  const day = utcDayStart(now)
  if (day !== spend.dayStart) {
    spend.dayStart = day
    spend.dayUsd = 0
  }
  const month = utcMonthStart(now)
  if (month !== spend.monthStart) {
    spend.monthStart = month
    spend.monthUsd = 0
  }
  const oldest = Math.floor((now - HELD_TTL_MS) / HELD_SLOT_MS)
  let drop = 0
  while (drop < spend.held.length && spend.held[drop].slot < oldest) drop++
  if (drop > 0) spend.held.splice(0, drop)
}

/**
 * Whether a ledger still counts for something at `now`: spend in its current period, or a hold not yet expired.
 * State that keeps one must outlive an idle spell (a budget or a day quota forgotten is a budget overrun). `day`: a
 * ledger read by the day only (a day's tokens), whose month total counts for nothing; a budget's counts its month.
 */
export function ledgerLive(spend: SpendState | undefined, now: number, periods: 'day' | 'month'): boolean {
  if (!spend) return false
  if (spend.dayUsd > 0 && spend.dayStart === utcDayStart(now)) return true
  if (periods === 'month' && spend.monthUsd > 0 && spend.monthStart === utcMonthStart(now)) return true
  const oldest = Math.floor((now - HELD_TTL_MS) / HELD_SLOT_MS)
  return spend.held.some((h) => h.slot >= oldest && h.usd > 0)
}

/** Adds `from`'s spend and holds to `into`, both moved along to `now` first (a member's own day taken into its group's). */
export function mergeLedger(into: SpendState, from: SpendState, now: number): void {
  refreshSpend(into, now)
  refreshSpend(from, now)
  into.dayUsd += from.dayUsd
  into.monthUsd += from.monthUsd
  for (const h of from.held) {
    const same = into.held.find((x) => x.slot === h.slot)
    if (same) same.usd += h.usd
    else into.held.push({ ...h })
  }
  into.held.sort((a, b) => a.slot - b.slot)
}

export function heldUsd(spend: SpendState): number {
  let sum = 0
  for (const h of spend.held) sum += h.usd
  return sum
}

/** What a request may cost at most on this deployment: its input estimate and output cap at the deployment's price. */
export function reservedUsd(deployment: DeploymentConfig, req: RequestEstimate): number {
  if (req.costUsd !== undefined) return safe(req.costUsd)
  const price = priceOf(deployment)
  if (!price) return 0
  const output = req.maxTokens ?? maxOutputTokensOf(deployment)
  return safe((req.inputTokens * price.input + output * price.output) / 1e6)
}

export interface BudgetBlock {
  /** USD (a budget) or tokens (a deployment's tokens-per-day quota, day-tokens.ts). */
  unit?: 'tokens'
  period: 'day' | 'month'
  budget: number
  /** Settled spend of the period. */
  spent: number
  /** When it may admit again: the period's end when settled spend is what fills it, else soon (holds settle). */
  until: number
}

/** Whether the deployment's budgets admit one more request now; the binding one when not. */
export function budgetBlock(spend: SpendState, budgets: Budgets, now: number): BudgetBlock | null {
  const held = heldUsd(spend)
  const periods = [
    ['month', budgets.month, spend.monthUsd, nextMonthStart(now)],
    ['day', budgets.day, spend.dayUsd, spend.dayStart + 86_400_000],
  ] as const
  let block: BudgetBlock | null = null
  for (const [period, budget, spent, end] of periods) {
    if (budget === undefined || spent + held < budget) continue
    const until = spent >= budget ? end : now + HELD_SLOT_MS
    if (!block || until > block.until) block = { period, budget, spent, until }
  }
  return block
}

export function holdSpend(spend: SpendState, at: number, usd: number): void {
  if (!(usd > 0)) return
  const slot = Math.floor(at / HELD_SLOT_MS)
  const last = spend.held[spend.held.length - 1]
  if (last && last.slot === slot) last.usd += usd
  else if (!last || last.slot < slot) spend.held.push({ slot, usd })
  else {
    const i = spend.held.findIndex((h) => h.slot >= slot)
    if (spend.held[i].slot === slot) spend.held[i].usd += usd
    else spend.held.splice(i, 0, { slot, usd })
  }
}

/**
 * Settles a reservation: its hold (`held`: what it reserved and when) is released and `actualUsd` is spent in the
 * current periods. The ledger does not care about the unit: a deployment's tokens per day are kept in one too.
 */
export function settleSpend(spend: SpendState, held: { at: number; amount: number } | undefined, actualUsd: number, now: number): void {
  refreshSpend(spend, now)
  if (held && held.amount > 0) {
    const slot = Math.floor(held.at / HELD_SLOT_MS)
    const h = spend.held.find((x) => x.slot === slot)
    if (h) {
      h.usd = Math.max(0, h.usd - held.amount)
      if (h.usd < 1e-12) spend.held.splice(spend.held.indexOf(h), 1)
    }
  }
  const usd = safe(actualUsd)
  spend.dayUsd += usd
  spend.monthUsd += usd
}

/**
 * What an attempt really cost, for its budget: the cost the caller measured (a client's window is priced at the
 * deployment that served), else its usage at this deployment's price. Without usage, an attempt Bedrock refused cost
 * nothing, and one that may have run (a timeout, a cut connection, a success without usage) costs its reservation.
 */
export function attemptCostUsd(deployment: DeploymentConfig, outcome: { costUsd?: number; usage?: TokenUsage; invokedModelId?: string; reservation?: Reservation; result: { class: string } }): number {
  if (outcome.costUsd !== undefined) return safe(outcome.costUsd)
  if (outcome.usage) return safe(costUsd(deployment, outcome.usage, outcome.invokedModelId) ?? 0)
  const mayHaveRun = outcome.result.class === 'success' || outcome.result.class === 'timeout' || outcome.result.class === 'network'
  return mayHaveRun ? safe(outcome.reservation?.usd ?? 0) : 0
}

function safe(n: number): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0
}

/** What the budgets have left now: the least of each period's budget less its spend and what is held (0 when spent). */
export function budgetLeft(spend: SpendState, budgets: Budgets, now: number): number {
  refreshSpend(spend, now)
  const held = heldUsd(spend)
  let left = Number.POSITIVE_INFINITY
  if (budgets.day !== undefined) left = Math.min(left, budgets.day - spend.dayUsd - held)
  if (budgets.month !== undefined) left = Math.min(left, budgets.month - spend.monthUsd - held)
  return Math.max(0, left)
}

/**
 * A lease report's change to a period ledger (routing/lease.ts LedgerDelta), in order: `release` off what is held at
 * `at`, `hold` held at `at`, `used` spent in the current periods.
 */
export function adjustLedger(spend: SpendState, delta: { at: number; release: number; hold: number; used: number }, now: number): void {
  settleSpend(spend, delta.release > 0 ? { at: delta.at, amount: delta.release } : undefined, 0, now)
  if (delta.hold > 0) holdSpend(spend, delta.at, delta.hold)
  if (delta.used > 0) settleSpend(spend, undefined, delta.used, now)
}
