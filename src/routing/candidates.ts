/**
 * Assessing each deployment for one routing decision: may it be sent this request, and how much is it preferred.
 * Shared by every strategy, so they all respect the same rules.
 *
 * Hard blocks (never sent): already tried by this request; another model family than a native (InvokeModel) request
 * is written for; outside the deployments a routing rule allows; misconfigured (Bedrock said so) between probes; the configured rpm/tpm window full, for strategies
 * that keep windows; a USD budget (per day or month) spent. Only these can make the router refuse.
 *
 * Soft penalties (sent when nothing better is left): ejected by its breaker, or half-open with its probe slots taken;
 * paced after throttles (no send token yet); upstream asked for a pause (Retry-After).
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { breakerAdmission, probeTimeoutMs, refreshBreaker } from './breaker'
import { budgetBlock, budgetsOf, createSpendState, refreshSpend, reservedUsd, type BudgetBlock, type SpendState } from './budget'
import { dayLedgerOf, dayTokensBlock } from './day-tokens'
import { nextTokenAt } from './pacing'
import { reservedTokens } from './quota'
import { deploymentState, usageOf } from './state'
import { strategyFor } from './strategies'
import type { DeploymentState, PoolState, RequestEstimate, UnusableReason, UsageBucket } from './types'
import { firstFittingTime, fitsNow, pruneUsage, windowTotals, type WindowLimits, type WindowTotals } from './window'

/** Why a deployment cannot take the request at all (apart from having been tried). */
export type Block = UnusableReason

export interface Candidate {
  deployment: DeploymentConfig
  state: DeploymentState
  /**
   * The window its limits apply to: its own (`state.usage`) or its quota group's (state.ts usageOf). A grouped
   * deployment still counts its own requests in `state.usage` too (its share, for balance and /health).
   */
  usage: UsageBucket[]
  /** Already attempted by this request. */
  tried: boolean
  block: Block | null
  /** Misconfigured: when its next probe may go. */
  blockedUntil: number
  /** Must hold a half-open probe slot. */
  probe: boolean
  /** Probes a misconfigured deployment (one at a time): its success ends the misconfiguration. */
  misconfiguredProbe: boolean
  /** Soft: ejected by the breaker (or half-open with every probe slot taken), until `ejectedUntil`. */
  ejected: boolean
  ejectedUntil: number
  /** Soft: when it has a send token and upstream's Retry-After has passed (now if both). */
  readyAt: number
  /** 0 = primary, 1 = fallback; plus the strategy's own tiers (bedrock-ipr: +2 for plain models, routers first). */
  tier: number
  /** The strategy keeps it within its configured `limits` (StrategyDefinition.usesWindows). */
  windowed: boolean
  limits: WindowLimits
  /** Tokens the attempt reserves (input estimate + output cap). */
  reserve: number
  /** Relative room left after this request, 0..1 (1 = unlimited): min of the rpm and tpm fractions. */
  headroom: number
  /** The window at the time of the assessment (with limits only). */
  totals: WindowTotals | null
  /** USD the attempt holds against the deployment's budgets (0 without budgets). */
  reserveUsd: number
  /** The budget that is spent (block 'budget-spent'). */
  budget: BudgetBlock | null
  /** With `tokensPerDay`: the day ledger its tokens count in, its own or its quota group's (day-tokens.ts). */
  dayLedger: SpendState | undefined
}


/** The configured limits (Infinity = none). */
export function configuredLimits(deployment: DeploymentConfig): WindowLimits {
  return { rpm: deployment.rpm ?? Number.POSITIVE_INFINITY, tpm: deployment.tpm ?? Number.POSITIVE_INFINITY }
}

function fraction(used: number, limit: number): number {
  return limit === Number.POSITIVE_INFINITY ? 1 : Math.max(0, (limit - used) / limit)
}

export function assess(
  pool: PoolConfig,
  deployment: DeploymentConfig,
  state: PoolState,
  req: RequestEstimate,
  tried: readonly string[],
  now: number,
): Candidate {
  const ds = deploymentState(state, deployment.id)
  const usage = usageOf(state, deployment)
  const strategy = strategyFor(pool, req)
  const timeout = probeTimeoutMs(pool)
  pruneUsage(usage, now)
  if (usage !== ds.usage) pruneUsage(ds.usage, now)
  refreshBreaker(ds.breaker, now, timeout)
  const limits = configuredLimits(deployment)
  const reserve = reservedTokens(deployment, req)
  const admission = breakerAdmission(ds.breaker, pool.breaker, now, timeout)
  const candidate: Candidate = {
    deployment,
    state: ds,
    usage,
    tried: tried.includes(deployment.id),
    block: null,
    blockedUntil: now,
    probe: admission.admit && admission.probe,
    misconfiguredProbe: false,
    ejected: !admission.admit,
    ejectedUntil: admission.admit ? now : admission.availableAt,
    readyAt: Math.max(nextTokenAt(ds.pacing, now), ds.avoidUntil, now),
    tier: (deployment.fallback ? 1 : 0) + (strategy.tierOf?.(deployment) ?? 0),
    windowed: strategy.usesWindows,
    limits,
    reserve,
    headroom: 1,
    totals: null,
    reserveUsd: 0,
    budget: null,
    dayLedger: dayLedgerOf(state, deployment, now),
  }
  if (req.family && deployment.family !== req.family) {
    candidate.block = 'other-family'
    return candidate
  }
  if (req.only && !req.only.includes(deployment.id)) {
    candidate.block = 'not-allowed'
    return candidate
  }
  const bad = ds.misconfigured
  if (bad) {
    if (bad.probing !== null && bad.probing + timeout <= now) bad.probing = null // the probe never reported
    if (bad.probing !== null || now < bad.probeAt) {
      candidate.block = 'misconfigured'
      candidate.blockedUntil = bad.probing !== null ? Math.max(bad.probeAt, bad.probing + timeout) : bad.probeAt
      return candidate
    }
    candidate.misconfiguredProbe = true
  }
  if (limits.rpm !== Number.POSITIVE_INFINITY || limits.tpm !== Number.POSITIVE_INFINITY) {
    const totals = windowTotals(usage, now)
    candidate.totals = totals
    candidate.headroom = Math.min(
      fraction(totals.requests + totals.queuedRequests + 1, limits.rpm),
      fraction(totals.tokens + totals.queuedTokens + reserve, limits.tpm),
    )
    if (candidate.windowed && !fitsNow(usage, totals, now, 1, reserve, limits)) candidate.block = 'window-full'
  }
  const budgets = budgetsOf(deployment)
  if (budgets) {
    ds.spend ??= createSpendState(now)
    refreshSpend(ds.spend, now)
    candidate.reserveUsd = reservedUsd(deployment, req)
    spent(candidate, budgetBlock(ds.spend, budgets, now))
  }
  spent(candidate, dayTokensBlock(deployment, candidate.dayLedger, now))
  return candidate
}

/**
 * A spent budget (USD or a day's tokens) blocks the candidate until its period ends. It outlasts a full window, so it
 * wins over one: else the queue, which takes window-full candidates, would send anyway.
 */
function spent(candidate: Candidate, block: BudgetBlock | null): void {
  if (!block || (candidate.block !== null && candidate.block !== 'window-full')) return
  candidate.block = 'budget-spent'
  candidate.blockedUntil = block.until
  candidate.budget = block
}

/**
 * When the candidate could take the request (ignoring `tried` and soft penalties): now if it can; when its next
 * misconfiguration probe may go; or, for a full window, when the window has room (searching up to `lastMs`). Infinity
 * if never (the request exceeds its limits, or no room before `lastMs`).
 */
export function availableAt(candidate: Candidate, now: number, lastMs = Number.POSITIVE_INFINITY): number {
  if (candidate.block === null) return now
  if (candidate.block === 'misconfigured' || candidate.block === 'budget-spent') return candidate.blockedUntil
  if (candidate.block === 'other-family' || candidate.block === 'not-allowed') return Number.POSITIVE_INFINITY
  const at = firstFittingTime(candidate.usage, now, now, 1, candidate.reserve, candidate.limits, lastMs, candidate.totals ?? undefined)
  return at < 0 ? Number.POSITIVE_INFINITY : at
}

/** Which configured limit is full for this request: 'rpm', 'tpm' or both. */
export function fullLimits(candidate: Candidate): string {
  const totals = candidate.totals
  if (!totals) return 'rpm/tpm'
  const full: string[] = []
  if (totals.requests + totals.queuedRequests + 1 > candidate.limits.rpm) full.push(`rpm ${candidate.limits.rpm}`)
  if (totals.tokens + totals.queuedTokens + candidate.reserve > candidate.limits.tpm) full.push(`tpm ${candidate.limits.tpm}`)
  return full.length ? full.join(' and ') : 'rpm/tpm'
}
