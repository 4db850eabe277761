/**
 * Built-in facts about common Bedrock models, matched on the base model id found inside inference-profile ids
 * (`us.anthropic.claude-sonnet-4-6`) and ARNs: list price, output cap (reserved when a request sets no maxTokens) and
 * output-token burndown for quota accounting. Deployment config fields (`price`, `maxOutputTokens`, `burndown`) win.
 *
 * Prices are USD per million tokens, us-east-1 / us-west-2 standard tier, from docs/bedrock-wire.md §7 (secondary sources,
 * UNCONFIRMED list prices). Opus prices are not in §7: Opus 4/4.1 15/75 and Opus 4.5+ 5/25 are Anthropic's public list
 * prices, equally UNCONFIRMED for Bedrock. Claude 4.5-generation models cost 10% more on geographic and in-Region
 * endpoints than on `global.` profiles (§7, confirmed by AWS for Sonnet 4.5).
 */
import type { DeploymentConfig, Price } from '../config/types'

export interface ModelFacts {
  /** Price on the cheapest endpoint (global profile where one exists). */
  price?: Price
  /** Multiplier for geographic / in-Region endpoints. */
  geoPremium?: number
  /** Largest output the model produces; Bedrock reserves it when maxTokens is unset. */
  maxOutputTokens: number
  /** Quota tokens consumed per output token. */
  burndown: number
}

/** Output cap reserved for unknown models. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096

interface ModelEntry extends ModelFacts {
  pattern: RegExp
}

const CLAUDE_4 = { maxOutputTokens: 64_000, burndown: 5 }

// First match wins: specific patterns before general ones.
const MODELS: readonly ModelEntry[] = [
  // Anthropic Claude 4.x (5x burndown; the 4.5 generation carries the 10% geographic premium).
  { pattern: /^anthropic\.claude-opus-4-[5-9](?!\d)/, price: { input: 5, output: 25 }, geoPremium: 1.1, ...CLAUDE_4 },
  { pattern: /^anthropic\.claude-opus-4/, price: { input: 15, output: 75 }, maxOutputTokens: 32_000, burndown: 5 },
  { pattern: /^anthropic\.claude-sonnet-4-[5-9](?!\d)/, price: { input: 3, output: 15 }, geoPremium: 1.1, ...CLAUDE_4 },
  { pattern: /^anthropic\.claude-sonnet-4/, price: { input: 3, output: 15 }, ...CLAUDE_4 },
  { pattern: /^anthropic\.claude-haiku-4/, price: { input: 1, output: 5 }, geoPremium: 1.1, ...CLAUDE_4 },
  // Claude 3.x
  { pattern: /^anthropic\.claude-3-7-sonnet/, price: { input: 3, output: 15 }, ...CLAUDE_4 },
  { pattern: /^anthropic\.claude-3-5-sonnet/, price: { input: 3, output: 15 }, maxOutputTokens: 8192, burndown: 1 },
  { pattern: /^anthropic\.claude-3-5-haiku/, price: { input: 0.8, output: 4 }, maxOutputTokens: 8192, burndown: 1 },
  { pattern: /^anthropic\.claude-3-haiku/, price: { input: 0.25, output: 1.25 }, maxOutputTokens: 4096, burndown: 1 },
  { pattern: /^anthropic\.claude-3-opus/, price: { input: 15, output: 75 }, maxOutputTokens: 4096, burndown: 1 },
  { pattern: /^anthropic\.claude-3-sonnet/, price: { input: 3, output: 15 }, maxOutputTokens: 4096, burndown: 1 },
  // Other Claude ids (future 4.x+ naming): assume the recent-Claude quota behaviour, no price.
  { pattern: /^anthropic\.claude-(opus|sonnet|haiku)-\d/, maxOutputTokens: 64_000, burndown: 5 },
  // Amazon Nova
  { pattern: /^amazon\.nova-micro/, price: { input: 0.035, output: 0.14 }, maxOutputTokens: 10_000, burndown: 1 },
  { pattern: /^amazon\.nova-lite/, price: { input: 0.06, output: 0.24 }, maxOutputTokens: 10_000, burndown: 1 },
  { pattern: /^amazon\.nova-pro/, price: { input: 0.8, output: 3.2 }, maxOutputTokens: 10_000, burndown: 1 },
  // Nova 2 Lite: sources conflict (0.30/2.50 vs 0.33/2.75); the lower pair.
  { pattern: /^amazon\.nova-2-lite/, price: { input: 0.3, output: 2.5 }, maxOutputTokens: 64_000, burndown: 1 },
  // Meta Llama 3.x 70B (Bedrock caps generation at 2048 tokens).
  { pattern: /^meta\.llama3-[13]-70b/, price: { input: 0.72, output: 0.72 }, maxOutputTokens: 2048, burndown: 1 },
  { pattern: /^meta\.llama3/, maxOutputTokens: 2048, burndown: 1 },
  // Mistral Large
  { pattern: /^mistral\.mistral-large-2402/, price: { input: 4, output: 12 }, maxOutputTokens: 8192, burndown: 1 },
  { pattern: /^mistral\.mistral-large-2407/, price: { input: 2, output: 6 }, maxOutputTokens: 8192, burndown: 1 },
]

const ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:[^:]*:[^:]*:([a-z-]+)\/(.+)$/
const PROMPT_ROUTER_ARN = /^arn:aws(?:-[^:]+)?:bedrock:[a-z0-9-]+:\d{12}:(?:default-)?prompt-router\/[a-zA-Z0-9\-:.]+$/
/** Cross-Region inference profile prefixes (docs/bedrock-wire.md §6.1, plus ca/sa/ug seen in the wild). */
const GEO_PREFIXES = new Set(['us', 'eu', 'apac', 'global', 'us-gov', 'jp', 'au', 'ca', 'sa', 'ug'])
/** Resource types whose id names a model (others, like application inference profiles, are opaque). */
const MODEL_RESOURCES = new Set(['foundation-model', 'inference-profile', 'default-prompt-router'])

/** A Bedrock Prompt Router ARN (default or custom), usable as `modelId` (docs/bedrock-wire.md §5). */
export function isPromptRouterArn(modelId: string): boolean {
  return PROMPT_ROUTER_ARN.test(modelId)
}

/**
 * The base model id inside a model id, inference-profile id or ARN: `anthropic.claude-sonnet-4-6` for
 * `global.anthropic.claude-sonnet-4-6` or `arn:aws:bedrock:eu-west-1:123:inference-profile/eu.anthropic.claude-sonnet-4-6`.
 * Empty string for opaque ARNs (application inference profiles, custom prompt routers, provisioned models).
 */
export function baseModelId(modelId: string): string {
  let id = modelId.trim()
  const arn = ARN.exec(id)
  if (arn) {
    if (!MODEL_RESOURCES.has(arn[1])) return ''
    id = arn[2]
  }
  const dot = id.indexOf('.')
  if (dot > 0 && GEO_PREFIXES.has(id.slice(0, dot)) && id.indexOf('.', dot + 1) > 0) id = id.slice(dot + 1)
  return id
}

/** Whether the id addresses a `global.` cross-Region profile. */
function isGlobalProfile(modelId: string): boolean {
  const arn = ARN.exec(modelId)
  return (arn ? arn[2] : modelId).startsWith('global.')
}

/**
 * Facts and prices by model ID, worked out once per ID: they are read on every request (estimate, decision, cost)
 * for the few IDs a config names. Bounded: cleared past a thousand IDs (an InvokeModel client can name any).
 */
const factsById = new Map<string, ModelFacts | null>()
const pricesById = new Map<string, Price | null>()
const MAX_MEMO = 1000

export function modelFacts(modelId: string): ModelFacts | undefined {
  let facts = factsById.get(modelId)
  if (facts === undefined) {
    const base = baseModelId(modelId)
    facts = (base && MODELS.find((entry) => entry.pattern.test(base))) || null
    if (factsById.size >= MAX_MEMO) factsById.clear()
    factsById.set(modelId, facts)
  }
  return facts ?? undefined
}

/** List price for a model id (including the geographic premium), undefined when unknown. */
export function defaultPrice(modelId: string): Price | undefined {
  let price = pricesById.get(modelId)
  if (price === undefined) {
    const facts = modelFacts(modelId)
    const premium = facts?.geoPremium && !isGlobalProfile(modelId) ? facts.geoPremium : 1
    price = !facts?.price ? null : premium === 1 ? facts.price : { input: facts.price.input * premium, output: facts.price.output * premium }
    if (pricesById.size >= MAX_MEMO) pricesById.clear()
    pricesById.set(modelId, price)
  }
  return price ?? undefined
}

export function priceOf(deployment: DeploymentConfig): Price | undefined {
  return deployment.price ?? defaultPrice(deployment.modelId)
}

export function maxOutputTokensOf(deployment: DeploymentConfig): number {
  return deployment.maxOutputTokens ?? modelFacts(deployment.modelId)?.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS
}

export function burndownOf(deployment: DeploymentConfig): number {
  return deployment.burndown ?? modelFacts(deployment.modelId)?.burndown ?? 1
}

/**
 * Model family (the vendor): anthropic, amazon, meta, mistral, cohere, ai21, deepseek, openai, qwen, … for model ids,
 * inference-profile ids (`us.`/`eu.`/`global.` …) and ARNs; default prompt routers are named after their family
 * (`default-prompt-router/anthropic.claude:1`). `unknown` for opaque ids.
 */
export function familyOf(modelId: string): string {
  const base = baseModelId(modelId)
  const dot = base.indexOf('.')
  if (dot <= 0) return 'unknown'
  const vendor = base.slice(0, dot).toLowerCase()
  return /^[a-z][a-z0-9-]*$/.test(vendor) ? vendor : 'unknown'
}


/**
 * How a model is asked to think before answering, through Converse's `additionalModelRequestFields`:
 * `anthropic-thinking` (`thinking: {type: enabled, budget_tokens}`: Claude 3.7 Sonnet and the Claude 4 generation),
 * `nova-reasoning` (`reasoningConfig: {type: enabled, maxReasoningEffort}`: Nova 2). Undefined: it does not think,
 * or the id is opaque.
 */
export function reasoningStyleOf(modelId: string): 'anthropic-thinking' | 'nova-reasoning' | undefined {
  const base = baseModelId(modelId)
  if (/^anthropic\.claude-(3-7-sonnet|sonnet-4|opus-4|haiku-4)/.test(base)) return 'anthropic-thinking'
  if (/^amazon\.nova-2-/.test(base)) return 'nova-reasoning'
  return undefined
}
