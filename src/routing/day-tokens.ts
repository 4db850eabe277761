/**
 * Tokens per UTC day: a deployment's daily token quota (Bedrock sets them for some models and accounts), kept in the
 * budget ledger (budget.ts) counted in tokens instead of USD. An attempt holds what it reserves in the window (input
 * estimate + output cap, with burndown), and settles to what it used, as Bedrock counts it (quota.ts settledTokens).
 * Like a budget, the deployment takes requests while the day's used + held tokens are below the quota, so the day
 * overshoots by at most the last request admitted; then it is skipped until the next UTC midnight, and when every
 * deployment is out, the router answers 429 saying so.
 */
import type { DeploymentConfig } from '../config/types'
import { budgetBlock, budgetLeft, createSpendState, holdSpend, refreshSpend, settleSpend, type BudgetBlock } from './budget'
import { settledTokens } from './quota'
import type { AttemptOutcome, DeploymentState } from './types'

/** Whether the day's quota admits another request now; the block (in tokens) when not. */
export function dayTokensBlock(deployment: DeploymentConfig, ds: DeploymentState, now: number): BudgetBlock | null {
  if (deployment.tokensPerDay === undefined) return null
  ds.dayTokens ??= createSpendState(now)
  refreshSpend(ds.dayTokens, now)
  const block = budgetBlock(ds.dayTokens, { day: deployment.tokensPerDay }, now)
  return block && { ...block, unit: 'tokens' }
}

/** Holds an attempt's reserved tokens against the day. */
export function holdDayTokens(ds: DeploymentState, at: number, tokens: number): void {
  if (ds.dayTokens) holdSpend(ds.dayTokens, at, tokens)
}

/**
 * Settles an attempt: its hold is released and what it used counted. Without usage, a refused attempt used nothing;
 * one that may have run (success without usage, timeout, cut) counts its reservation.
 */
export function settleDayTokens(deployment: DeploymentConfig, ds: DeploymentState, outcome: AttemptOutcome, now: number): void {
  const r = outcome.reservation
  settleSpend((ds.dayTokens ??= createSpendState(now)), r ? { at: r.at, amount: r.tokens } : undefined, dayTokensUsed(deployment, outcome), now)
}

/** What an attempt used of the day: its usage as Bedrock counts it; without one, nothing if it was refused, its reservation if it may have run. */
export function dayTokensUsed(deployment: DeploymentConfig, outcome: Pick<AttemptOutcome, 'usage' | 'reservation' | 'result'>): number {
  const cls = outcome.result.class
  return outcome.usage ? settledTokens(deployment, outcome.usage) : cls === 'success' || cls === 'timeout' || cls === 'network' ? (outcome.reservation?.tokens ?? 0) : 0
}

/** What the day's quota has left now: the quota less what was used and what is held (0 when spent). */
export function dayTokensLeft(deployment: DeploymentConfig, ds: DeploymentState, now: number): number {
  if (deployment.tokensPerDay === undefined) return Infinity
  return Math.floor(budgetLeft((ds.dayTokens ??= createSpendState(now)), { day: deployment.tokensPerDay }, now))
}
