/**
 * Assessing each deployment for one routing decision: can it take this request now, and if not, why and until when.
 * Shared by every strategy, so they all respect the breaker (open, bounded half-open probes), cooldowns, the request's
 * tried list and (for strategies that use windows) the deployment's rpm/tpm headroom.
 */
import type { DeploymentConfig, PoolConfig, StrategyName } from '../config/types'
import { breakerAdmission, refreshBreaker } from './breaker'
import { effectiveLimits } from './limits'
import { isPromptRouterArn } from './models'
import { reservedTokens } from './quota'
import { deploymentState } from './state'
import type { DeploymentState, PoolState, RequestEstimate, UnusableReason } from './types'
import { firstFittingTime, fitsNow, pruneUsage, windowTotals, type WindowLimits, type WindowTotals } from './window'

/** Why a deployment cannot take the request now (apart from having been tried). */
export type Block = UnusableReason

export interface Candidate {
  deployment: DeploymentConfig
  state: DeploymentState
  /** Already attempted by this request. */
  tried: boolean
  block: Block | null
  /** Health blocks (breaker, misconfigured): when they lift. Capacity blocks: see `availableAt`. */
  blockedUntil: number
  /** Must hold a half-open probe slot. */
  probe: boolean
  /** 0 = primary, 1 = fallback; +2 for plain models in a bedrock-ipr pool (routers first). */
  tier: number
  /** The strategy keeps it within `limits` (see usesWindows). */
  windowed: boolean
  limits: WindowLimits
  /** Tokens the attempt reserves (input estimate + output cap). */
  reserve: number
  /** Relative room left after this request, 0..1 (1 = unlimited): min of the rpm and tpm fractions. */
  headroom: number
  /** The window at the time of the assessment (with limits only). */
  totals: WindowTotals | null
}

/** Strategies that keep deployments within their rpm/tpm windows (the others only account usage). */
export function usesWindows(strategy: StrategyName): boolean {
  return strategy === 'rate-limit-aware' || strategy === 'cost' || strategy === 'latency'
}

/**
 * How long a half-open probe (or a latency measurement) may go unreported before it is forgotten: no attempt outlives
 * the request deadline or its own timeouts.
 */
export function probeTimeoutMs(pool: PoolConfig): number {
  return Math.max(pool.timeoutMs || 0, pool.attemptTimeoutMs || 0, pool.ttfbTimeoutMs || 0) || 120_000
}

/** Whether the block is about capacity (answer 429) rather than health (answer 503). */
export function isCapacityBlock(block: Block | null): boolean {
  return block === 'window-full' || block === 'throttled'
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
  const timeout = probeTimeoutMs(pool)
  pruneUsage(ds.usage, now)
  refreshBreaker(ds.breaker, now, timeout)
  const limits = effectiveLimits(deployment, ds, now)
  const reserve = reservedTokens(deployment, req)
  const candidate: Candidate = {
    deployment,
    state: ds,
    tried: tried.includes(deployment.id),
    block: null,
    blockedUntil: now,
    probe: false,
    tier: (deployment.fallback ? 1 : 0) + (pool.strategy === 'bedrock-ipr' && !isPromptRouterArn(deployment.modelId) ? 2 : 0),
    windowed: usesWindows(pool.strategy),
    limits,
    reserve,
    headroom: 1,
    totals: null,
  }
  const admission = breakerAdmission(ds.breaker, pool.breaker, now, timeout)
  candidate.probe = admission.probe
  const cooling = ds.cooldown && ds.cooldown.until > now ? ds.cooldown : null
  if (!admission.admit) {
    candidate.block = admission.probe ? 'half-open-probes-busy' : 'breaker-open'
    candidate.blockedUntil = Math.max(admission.availableAt, cooling?.until ?? now)
    return candidate
  }
  if (cooling) {
    candidate.block = cooling.reason === 'misconfigured' ? 'misconfigured' : 'throttled'
    candidate.blockedUntil = cooling.until
    return candidate
  }
  if (limits.rpm !== Number.POSITIVE_INFINITY || limits.tpm !== Number.POSITIVE_INFINITY) {
    const totals = windowTotals(ds.usage, now)
    candidate.totals = totals
    candidate.headroom = Math.min(
      fraction(totals.requests + totals.queuedRequests + 1, limits.rpm),
      fraction(totals.tokens + totals.queuedTokens + reserve, limits.tpm),
    )
    if (candidate.windowed && !fitsNow(ds.usage, totals, now, 1, reserve, limits)) candidate.block = 'window-full'
  }
  return candidate
}

/**
 * When the candidate could take the request (ignoring `tried`): now if it can; when its breaker or misconfiguration
 * cooldown lifts; or, for capacity blocks, when its throttle cooldown has passed and its window has room (searching up
 * to `lastMs`). Infinity if never (the request exceeds its limits, or no room before `lastMs`).
 */
export function availableAt(candidate: Candidate, now: number, lastMs = Number.POSITIVE_INFINITY): number {
  if (candidate.block === null) return now
  if (!isCapacityBlock(candidate.block)) return candidate.blockedUntil
  const start = candidate.block === 'throttled' ? candidate.blockedUntil : now
  if (!candidate.windowed) return start
  const at = firstFittingTime(candidate.state.usage, now, start, 1, candidate.reserve, candidate.limits, lastMs, candidate.totals ?? undefined)
  return at < 0 ? Number.POSITIVE_INFINITY : at
}
