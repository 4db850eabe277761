/**
 * Effective per-minute limits of a deployment: the configured rpm/tpm, lowered by what upstream 429s taught.
 *
 * A 429 while the window held less than the configured limit means the account quota is shared with other traffic:
 * the effective limit drops to what the window held when it throttled (multiplicative decrease: at least 5% below the
 * limit in force), so the deployment counts as full until its window frees. While it serves without throttles the
 * limit climbs back by 10% of the configured limit per minute (additive increase) and the lesson is dropped once it
 * reaches the configured limit, or 15 minutes after the last 429. A deployment with no configured rpm/tpm is unlimited
 * until a 429 teaches it a limit.
 */
import type { DeploymentConfig } from '../config/types'
import type { DeploymentState, LearnedLimits } from './types'
import type { WindowLimits } from './window'

export const LEARNED_FORGET_MS = 15 * 60_000
/** Share of the limit regained per minute of serving without throttles. */
export const RECOVERY_SHARE_PER_MINUTE = 0.1
/** Multiplicative decrease when the window already held (about) the limit in force. */
const DECREASE = 0.95
const MIN_TPM_STEP = 1000

function activeLesson(state: DeploymentState, now: number): LearnedLimits | null {
  const learned = state.learned
  return learned && now - learned.throttledAt < LEARNED_FORGET_MS ? learned : null
}

export function effectiveLimits(deployment: DeploymentConfig, state: DeploymentState, now: number): WindowLimits {
  let rpm = deployment.rpm ?? Number.POSITIVE_INFINITY
  let tpm = deployment.tpm ?? Number.POSITIVE_INFINITY
  const learned = activeLesson(state, now)
  if (learned?.rpm != null) rpm = Math.min(rpm, learned.rpm)
  if (learned?.tpm != null) tpm = Math.min(tpm, learned.tpm)
  return { rpm, tpm }
}

/** Which quota a 429 hit, when its message says so ("Too many tokens …"); null: unknown, lower both. */
export function throttledQuota(message: string | undefined): 'tokens' | null {
  return message && /tokens/i.test(message) ? 'tokens' : null
}

function lowered(current: number, held: number, floor: number): number {
  return Math.max(floor, Math.min(held, current * DECREASE))
}

/**
 * Learns from an upstream 429. `held` is what our window held when it throttled, without the throttled attempt;
 * `requestTokens` (the throttled attempt's reservation) floors the token limit so such a request still fits an empty
 * window.
 */
export function learnFromThrottle(
  deployment: DeploymentConfig,
  state: DeploymentState,
  now: number,
  held: { requests: number; tokens: number },
  requestTokens: number,
  quota: 'tokens' | null,
): void {
  const current = effectiveLimits(deployment, state, now)
  const previous = activeLesson(state, now)
  const rpm = quota === 'tokens' ? (previous?.rpm ?? null) : lowered(current.rpm, held.requests, 1)
  const tpm = lowered(current.tpm, held.tokens, Math.max(1, requestTokens))
  state.learned = {
    rpm,
    tpm,
    rpmStep: Math.max(1, RECOVERY_SHARE_PER_MINUTE * (deployment.rpm ?? rpm ?? 0)),
    tpmStep: Math.max(MIN_TPM_STEP, RECOVERY_SHARE_PER_MINUTE * (deployment.tpm ?? tpm)),
    throttledAt: now,
    raisedAt: now,
  }
}

/** Additive increase after a success: one step per minute of serving, prorated; forgets what is no longer needed. */
export function recoverLimits(deployment: DeploymentConfig, state: DeploymentState, now: number): void {
  const learned = state.learned
  if (!learned) return
  if (!activeLesson(state, now)) {
    state.learned = null
    return
  }
  const minutes = Math.min(1, Math.max(0, now - learned.raisedAt) / 60_000)
  learned.raisedAt = now
  if (learned.rpm !== null) {
    learned.rpm += learned.rpmStep * minutes
    if (deployment.rpm !== undefined && learned.rpm >= deployment.rpm) learned.rpm = null
  }
  if (learned.tpm !== null) {
    learned.tpm += learned.tpmStep * minutes
    if (deployment.tpm !== undefined && learned.tpm >= deployment.tpm) learned.tpm = null
  }
  if (learned.rpm === null && learned.tpm === null) state.learned = null
}
