/**
 * Request cost in USD from a deployment's price (config, else the built-in table in models.ts).
 * Prompt caching is billed as on Claude: cache writes at 1.25× and cache reads at 0.1× the input price
 * (docs/bedrock-wire.md §7, UNCONFIRMED for other families).
 */
import type { DeploymentConfig, Price } from '../config/types'
import { defaultPrice, maxOutputTokensOf, priceOf } from './models'
import type { RequestEstimate, TokenUsage } from './types'

/**
 * Bedrock service tiers (Converse `serviceTier.type`, InvokeModel `X-Amzn-Bedrock-Service-Tier`) bill the standard
 * rate times a factor: Priority a premium, Flex a discount. AWS publishes the factors per model on its pricing page
 * (JS-rendered, not stored here): these defaults are the launch figures as reported (+75 %, −50 %), UNCONFIRMED;
 * a deployment's `price.tiers` overrides them. `reserved` is prepaid capacity, billed apart: its overflow is standard.
 */
export const DEFAULT_TIER_FACTORS: Readonly<Record<string, number>> = { priority: 1.75, flex: 0.5, default: 1, reserved: 1 }

export const CACHE_WRITE_FACTOR = 1.25
export const CACHE_READ_FACTOR = 0.1
/** Output expected when a request sets no maxTokens (for ranking only). */
export const EXPECTED_OUTPUT_TOKENS = 1000

/**
 * What a request cost, or undefined when the price is unknown. For a Bedrock prompt router the model it invoked is
 * what Bedrock bills: its list price, unless the deployment configures a price of its own.
 */
export function costUsd(deployment: DeploymentConfig, usage: TokenUsage, invokedModelId?: string, serviceTier?: string): number | undefined {
  const price = deployment.price ?? (invokedModelId ? defaultPrice(invokedModelId) : undefined) ?? priceOf(deployment)
  if (!price) return undefined
  const input =
    usage.inputTokens +
    (usage.cacheWriteInputTokens ?? 0) * CACHE_WRITE_FACTOR +
    (usage.cacheReadInputTokens ?? 0) * CACHE_READ_FACTOR
  return ((input * price.input + usage.outputTokens * price.output) / 1e6) * tierFactor(deployment, serviceTier)
}

export function tierFactor(deployment: DeploymentConfig, serviceTier: string | undefined): number {
  if (!serviceTier) return 1
  const own = deployment.price?.tiers?.[serviceTier as keyof NonNullable<Price['tiers']>]
  return own ?? DEFAULT_TIER_FACTORS[serviceTier] ?? 1
}

/** Expected cost of a request before sending it; Infinity when the price is unknown (ranks last). */
export function expectedCostUsd(deployment: DeploymentConfig, req: RequestEstimate): number {
  const price = priceOf(deployment)
  if (!price) return Number.POSITIVE_INFINITY
  const output = Math.min(req.maxTokens ?? EXPECTED_OUTPUT_TOKENS, maxOutputTokensOf(deployment))
  return (req.inputTokens * price.input + output * price.output) / 1e6
}
