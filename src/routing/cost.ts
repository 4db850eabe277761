/**
 * Request cost in USD from a deployment's price (config, else the built-in table in models.ts).
 * Prompt caching is billed as on Claude: cache writes at 1.25× and cache reads at 0.1× the input price
 * (docs/bedrock-wire.md §7, UNCONFIRMED for other families).
 */
import type { DeploymentConfig } from '../config/types'
import { defaultPrice, maxOutputTokensOf, priceOf } from './models'
import type { RequestEstimate, TokenUsage } from './types'

export const CACHE_WRITE_FACTOR = 1.25
export const CACHE_READ_FACTOR = 0.1
/** Output expected when a request sets no maxTokens (for ranking only). */
export const EXPECTED_OUTPUT_TOKENS = 1000

/**
 * What a request cost, or undefined when the price is unknown. For a Bedrock prompt router the model it invoked is
 * what Bedrock bills: its list price, unless the deployment configures a price of its own.
 */
export function costUsd(deployment: DeploymentConfig, usage: TokenUsage, invokedModelId?: string): number | undefined {
  const price = deployment.price ?? (invokedModelId ? defaultPrice(invokedModelId) : undefined) ?? priceOf(deployment)
  if (!price) return undefined
  const input =
    usage.inputTokens +
    (usage.cacheWriteInputTokens ?? 0) * CACHE_WRITE_FACTOR +
    (usage.cacheReadInputTokens ?? 0) * CACHE_READ_FACTOR
  return (input * price.input + usage.outputTokens * price.output) / 1e6
}

/** Expected cost of a request before sending it; Infinity when the price is unknown (ranks last). */
export function expectedCostUsd(deployment: DeploymentConfig, req: RequestEstimate): number {
  const price = priceOf(deployment)
  if (!price) return Number.POSITIVE_INFINITY
  const output = Math.min(req.maxTokens ?? EXPECTED_OUTPUT_TOKENS, maxOutputTokensOf(deployment))
  return (req.inputTokens * price.input + output * price.output) / 1e6
}
