/**
 * Quota tokens as Bedrock counts them (bedrock-wire.md §6.3): at request start it reserves input + maxTokens (the
 * model's output cap when maxTokens is unset); at the end it settles input + cacheWrite + output × burndown
 * (cache reads are not counted at settlement).
 */
import type { DeploymentConfig } from '../config/types'
import { burndownOf, maxOutputTokensOf } from './models'
import type { RequestEstimate, TokenUsage } from './types'

export function reservedTokens(deployment: DeploymentConfig, req: RequestEstimate): number {
  const output = req.maxTokens ?? maxOutputTokensOf(deployment)
  return Math.max(0, Math.ceil(req.inputTokens)) + Math.max(0, Math.ceil(output))
}

export function settledTokens(deployment: DeploymentConfig, usage: TokenUsage): number {
  return (
    Math.max(0, usage.inputTokens) +
    Math.max(0, usage.cacheWriteInputTokens ?? 0) +
    Math.max(0, usage.outputTokens) * burndownOf(deployment)
  )
}
