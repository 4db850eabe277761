/**
 * An Anthropic Messages API request as the body Bedrock's InvokeModel takes for Claude: the same document, lossless
 * (cache_control, thinking, tools, images, documents untouched), with `anthropic_version: bedrock-2023-05-31`
 * instead of the `anthropic-version` header, `anthropic-beta` headers moved into `anthropic_beta`, and the fields
 * Bedrock does not take removed (`model` is the URL's, `stream` is the operation; `metadata.user_id` goes to the log
 * line as the end user; `service_tier` has Bedrock's own header).
 */

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31'

export type ToInvoke = { ok: true; body: Record<string, unknown>; stream: boolean; endUser?: string; serviceTier?: string } | { ok: false; message: string }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function toInvokeBody(request: Record<string, unknown>, betaHeaders: string | undefined, forCounting = false): ToInvoke {
  const { model: _model, stream, metadata, service_tier: tier, ...rest } = request
  if (!Array.isArray(rest.messages) || rest.messages.length === 0) return { ok: false, message: 'messages: must be a non-empty array' }
  const turn = rest.messages.findIndex((m) => !isObject(m) || (m.role !== 'user' && m.role !== 'assistant'))
  if (turn >= 0) return { ok: false, message: unexpectedRole(turn, rest.messages[turn]) }
  if (stream !== undefined && typeof stream !== 'boolean') return { ok: false, message: 'stream: must be a boolean' }
  if (!forCounting) {
    const max = rest.max_tokens
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) return { ok: false, message: 'max_tokens: Field required (a whole number ≥ 1)' }
  }
  if (metadata !== undefined && !isObject(metadata)) return { ok: false, message: 'metadata: must be an object' }
  const body: Record<string, unknown> = { anthropic_version: BEDROCK_ANTHROPIC_VERSION, ...rest }
  const betas = new Set<string>(Array.isArray(rest.anthropic_beta) ? rest.anthropic_beta.filter((b): b is string => typeof b === 'string') : [])
  for (const b of (betaHeaders ?? '').split(',')) if (b.trim()) betas.add(b.trim())
  if (betas.size) body.anthropic_beta = [...betas]
  if (forCounting) {
    // CountTokens takes a complete InvokeModel body; count_tokens requests carry no max_tokens.
    const budget = isObject(rest.thinking) && typeof rest.thinking.budget_tokens === 'number' ? rest.thinking.budget_tokens : 0
    body.max_tokens = budget + 1
  }
  const userId = isObject(metadata) && typeof metadata.user_id === 'string' ? metadata.user_id : undefined
  const serviceTier = anthropicTier(tier)
  if (serviceTier === null) return { ok: false, message: 'service_tier: must be auto or standard_only' }
  return { ok: true, body, stream: stream === true, endUser: userId, ...(serviceTier ? { serviceTier } : {}) }
}

/**
 * Anthropic's own wording for a turn whose role is not user/assistant: clients that try `system` turns inside
 * `messages` (a first-party beta; Claude Code does for model names it does not know) recognise it and retry
 * without them. Bedrock takes system text only in `system`.
 */
export function unexpectedRole(index: number, message: unknown): string {
  const role = isObject(message) ? JSON.stringify(message.role) : 'none'
  return `messages.${index}.role: Unexpected role ${role}. The input message role must be one of user or assistant; put system text in system`
}

/**
 * Anthropic's `service_tier` as Bedrock's: `standard_only` is the default tier (so the router never moves it to
 * Priority or Flex), `auto` or none leaves it to the pool; anything else is refused (null).
 */
export function anthropicTier(tier: unknown): string | undefined | null {
  if (tier === undefined || tier === null || tier === 'auto') return undefined
  return tier === 'standard_only' ? 'default' : null
}
