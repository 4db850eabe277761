/** Builders for routing tests (config with defaults, outcomes). Not used by production code. */
import type { BreakerConfig, DeploymentConfig, PoolConfig } from '../config/types'
import type { AttemptOutcome, Decision, OutcomeClass, Reservation, TokenUsage } from './types'

export const T0 = 1_700_000_000_000

export const BREAKER: BreakerConfig = {
  consecutiveFailures: 5,
  windowMs: 60_000,
  failureRate: 0.5,
  minRequests: 20,
  cooldownMs: 30_000,
  maxCooldownMs: 300_000,
  halfOpenProbes: 1,
  successesToClose: 2,
  maxEjectionPercent: 100,
  panicThreshold: 0,
}

export function deployment(id: string, extra: Partial<DeploymentConfig> = {}): DeploymentConfig {
  const modelId = extra.modelId ?? 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
  return {
    id,
    modelId,
    region: 'us-east-1',
    weight: 1,
    fallback: false,
    endpoint: 'https://bedrock-runtime.us-east-1.amazonaws.com',
    family: 'anthropic',
    ...extra,
  }
}

export function pool(deployments: DeploymentConfig[], extra: Partial<PoolConfig> = {}): PoolConfig {
  return {
    name: 'test',
    strategy: 'weighted',
    deployments,
    maxAttempts: 3,
    timeoutMs: 60_000,
    attemptTimeoutMs: 30_000,
    ttfbTimeoutMs: 10_000,
    streamIdleTimeoutMs: 60_000,
    maxQueueMs: 0,
    maxPacingMs: 0,
    breaker: BREAKER,
    latencyTtlMs: 60_000,
    exploration: 0,
    ...extra,
    ...(extra.breaker ? { breaker: { ...BREAKER, ...extra.breaker } } : {}),
  }
}

const STATUS: Record<OutcomeClass, number> = {
  success: 200,
  throttled: 429,
  unavailable: 503,
  timeout: 504,
  network: 502,
  misconfigured: 403,
  client: 400,
}

/** The outcome of a dispatched decision. */
export function outcome(
  decision: Decision,
  cls: OutcomeClass,
  extra: Partial<AttemptOutcome> & { retryAfterMs?: number; message?: string } = {},
): AttemptOutcome {
  if (decision.kind !== 'dispatch') throw new Error(`expected a dispatch, got ${JSON.stringify(decision)}`)
  const { retryAfterMs, message, ...rest } = extra
  const result = { class: cls, status: STATUS[cls], ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...(message ? { message } : {}) }
  return { deploymentId: decision.deploymentId, reservation: decision.reservation, result, ...rest }
}

export function dispatched(decision: Decision): { deploymentId: string; reservation: Reservation; notBefore?: number } {
  if (decision.kind !== 'dispatch') throw new Error(`expected a dispatch, got ${JSON.stringify(decision)}`)
  return decision
}

export const USAGE: TokenUsage = { inputTokens: 100, outputTokens: 50 }

/** Counts how often each deployment id appears. */
export function tally(ids: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1
  return counts
}
