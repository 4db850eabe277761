/**
 * Quota tokens as Bedrock counts them (docs/bedrock-wire.md §6.3): at request start it reserves input + maxTokens (the
 * model's output cap when maxTokens is unset); at the end it settles input + cacheWrite + output × burndown
 * (cache reads are not counted at settlement).
 */
import type { DeploymentConfig } from '../config/types'
import { burndownOf, maxOutputTokensOf } from './models'
import type { RequestEstimate, TokenUsage } from './types'

/** A token count as a non-negative finite number (garbage from a caller must never poison the persisted state). */
function count(n: number | undefined): number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0
}

export function reservedTokens(deployment: DeploymentConfig, req: RequestEstimate): number {
  const output = req.maxTokens ?? maxOutputTokensOf(deployment)
  return Math.ceil(count(req.inputTokens)) + Math.ceil(count(output))
}

/**
 * The most a request may settle to (input, and its whole output cap burned down): what a day quota's slice is spent
 * by (state/leases.ts), since a reservation, whose output is not burned down, can be less than the settlement.
 */
export function maxSettledTokens(deployment: DeploymentConfig, req: RequestEstimate): number {
  return Math.ceil(settledTokens(deployment, { inputTokens: req.inputTokens, outputTokens: req.maxTokens ?? maxOutputTokensOf(deployment) }))
}

export function settledTokens(deployment: DeploymentConfig, usage: TokenUsage): number {
  return (
    count(usage.inputTokens) + count(usage.cacheWriteInputTokens) + count(usage.outputTokens) * count(burndownOf(deployment))
  )
}
