/**
 * Tokens per day: a deployment's daily token quota (Bedrock sets them for some models and accounts), kept in the
 * budget ledger (budget.ts) counted in tokens instead of USD. An attempt holds what it reserves in the window (input
 * estimate + output cap, with burndown), and settles to what it used, as Bedrock counts it (quota.ts settledTokens).
 * Like a budget, the deployment takes requests while the day's used + held tokens are below the quota, so the day
 * overshoots by at most the last request admitted; then it is skipped until the next UTC midnight, and when every
 * deployment is out, the router answers 429 saying so.
 *
 * The members of a quota group draw on one account quota, so they count in one day ledger, the group's
 * (`PoolState.quotaGroupDays`), shared by every pool the group spans — as they share one window (state.ts usageOf).
 */
import type { DeploymentConfig } from '../config/types'
import { budgetBlock, budgetLeft, createSpendState, holdSpend, mergeLedger, refreshSpend, settleSpend, type BudgetBlock, type SpendState } from './budget'
import { settledTokens } from './quota'
import { deploymentState } from './state'
import type { AttemptOutcome, PoolState } from './types'

/** The day ledger a deployment's tokens count in: its own, or its quota group's; undefined without `tokensPerDay`. */
export function dayLedgerOf(state: PoolState, deployment: DeploymentConfig, now: number): SpendState | undefined {
  if (deployment.tokensPerDay === undefined) return undefined
  const ds = deploymentState(state, deployment.id)
  if (deployment.quotaGroup === undefined) return (ds.dayTokens ??= createSpendState(now))
  const days = (state.quotaGroupDays ??= {})
  const ledger = Object.hasOwn(days, deployment.quotaGroup) ? days[deployment.quotaGroup] : (days[deployment.quotaGroup] = createSpendState(now))
  // A member with a day of its own joined the group today (a config change): what it used counts against the group's day.
  if (ds.dayTokens) {
    mergeLedger(ledger, ds.dayTokens, now)
    delete ds.dayTokens
  }
  return ledger
}

/** Whether the day's quota admits another request now; the block (in tokens) when not. */
export function dayTokensBlock(deployment: DeploymentConfig, ledger: SpendState | undefined, now: number): BudgetBlock | null {
  if (deployment.tokensPerDay === undefined || !ledger) return null
  refreshSpend(ledger, now)
  const block = budgetBlock(ledger, { day: deployment.tokensPerDay }, now)
  return block && { ...block, unit: 'tokens' }
}

/** Holds an attempt's reserved tokens against the day. */
export function holdDayTokens(ledger: SpendState | undefined, at: number, tokens: number): void {
  if (ledger) holdSpend(ledger, at, tokens)
}

/**
 * Settles an attempt: its hold is released and what it used counted. Without usage, a refused attempt used nothing;
 * one that may have run (success without usage, timeout, cut) counts its reservation.
 */
export function settleDayTokens(deployment: DeploymentConfig, state: PoolState, outcome: AttemptOutcome, now: number): void {
  const ledger = dayLedgerOf(state, deployment, now)
  if (!ledger) return
  const r = outcome.reservation
  settleSpend(ledger, r ? { at: r.at, amount: r.tokens } : undefined, dayTokensUsed(deployment, outcome), now)
}

/** What an attempt used of the day: its usage as Bedrock counts it; without one, nothing if it was refused, its reservation if it may have run. */
export function dayTokensUsed(deployment: DeploymentConfig, outcome: Pick<AttemptOutcome, 'usage' | 'reservation' | 'result'>): number {
  const cls = outcome.result.class
  return outcome.usage ? settledTokens(deployment, outcome.usage) : cls === 'success' || cls === 'timeout' || cls === 'network' ? (outcome.reservation?.tokens ?? 0) : 0
}

/** What the day's quota has left now: the quota less what was used and what is held (0 when spent). */
export function dayTokensLeft(deployment: DeploymentConfig, state: PoolState, now: number): number {
  const ledger = dayLedgerOf(state, deployment, now)
  if (deployment.tokensPerDay === undefined || !ledger) return Infinity
  return Math.floor(budgetLeft(ledger, { day: deployment.tokensPerDay }, now))
}
