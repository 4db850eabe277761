/**
 * InvokeModel bodies for Anthropic Claude models: the Anthropic Messages body as Bedrock takes it
 * (`anthropic_version` and `max_tokens` required, no `model` or `stream`), validated with Bedrock-style
 * "Malformed input request" messages, then turned into a ConverseBody so the shared answer planner and token
 * counter see the same conversation a Converse request would give them. Also finds the prompt-cache breakpoints
 * (`cache_control` blocks) in prompt order: tools, system, messages.
 */
import { awsError, type AwsError } from './errors'
import { blockChars, type ConverseBody } from './converse-request'
import { LOOKBACK_BLOCKS, type CachePoint, type Prefix } from './prompt-cache'
import { tokensForChars } from './responses'

export interface AnthropicRequest {
  /** The same conversation as a Converse body (for planning and token counting). */
  converse: ConverseBody
  maxTokens: number
  stopSequences?: string[]
  /** `thinking.type` is `enabled` or `adaptive`. */
  thinking: boolean
  /** One per `cache_control` block, in prompt order; `tokens` counts the prompt up to and including that block. */
  cachePoints: CachePoint[]
}

export type ParsedAnthropic = { ok: true; request: AnthropicRequest } | { ok: false; error: AwsError }

/** Top-level keys Bedrock's Claude schema accepts; anything else (`model`, `stream`, …) is "extraneous". */
const ALLOWED_KEYS = new Set([
  'anthropic_version',
  'anthropic_beta',
  'max_tokens',
  'messages',
  'system',
  'stop_sequences',
  'temperature',
  'top_p',
  'top_k',
  'tools',
  'tool_choice',
  'thinking',
  'metadata',
  'output_config',
  'output_format',
  'context_management',
])
const REQUIRED_KEYS = ['anthropic_version', 'max_tokens', 'messages']
/** Anthropic allows at most this many `cache_control` blocks per request. */
export const MAX_CACHE_POINTS = 4

class Invalid extends Error {}

/**
 * Throws the Bedrock-style schema message `Malformed input request: <detail>, please reformat …`; several
 * violations are run together (`#: a#: b`), as in messages Bedrock has returned.
 */
function malformed(detail: string): never {
  throw new Invalid(`Malformed input request: ${detail}, please reformat your input and try again.`)
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function typeName(v: unknown): string {
  if (v === null) return 'Null'
  if (Array.isArray(v)) return 'JSONArray'
  if (typeof v === 'number') return Number.isInteger(v) ? 'Integer' : 'BigDecimal'
  if (typeof v === 'object') return 'JSONObject'
  return typeof v === 'string' ? 'String' : 'Boolean'
}

function check(path: string, v: unknown, ok: boolean, expected: string): void {
  if (!ok) malformed(`${path}: expected type: ${expected}, found: ${typeName(v)}`)
}

function checkString(path: string, v: unknown): asserts v is string {
  check(path, v, typeof v === 'string', 'String')
}

function checkNumberIn(path: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return
  check(path, v, typeof v === 'number', 'Number')
  if ((v as number) < min) malformed(`${path}: ${v} is not greater or equal to ${min}`)
  if ((v as number) > max) malformed(`${path}: ${v} is not less or equal to ${max}`)
}

function cacheTtl(path: string, block: Record<string, unknown>): '5m' | '1h' | undefined {
  const cc = block.cache_control
  if (cc === undefined) return undefined
  check(`${path}/cache_control`, cc, isObject(cc), 'JSONObject')
  const c = cc as Record<string, unknown>
  if (c.type !== 'ephemeral') malformed(`${path}/cache_control/type: ${String(c.type)} is not a valid enum value`)
  if (c.ttl !== undefined && c.ttl !== '5m' && c.ttl !== '1h') malformed(`${path}/cache_control/ttl: ${String(c.ttl)} is not a valid enum value`)
  return (c.ttl as '5m' | '1h' | undefined) ?? '5m'
}

/** One Anthropic content block → the Converse block carrying the same countable text. */
function toConverseBlock(path: string, block: unknown): Record<string, unknown> {
  check(path, block, isObject(block), 'JSONObject')
  const b = block as Record<string, unknown>
  if (b.type === undefined) malformed(`${path}: required key [type] not found`)
  checkString(`${path}/type`, b.type)
  switch (b.type) {
    case 'text':
      checkString(`${path}/text`, b.text)
      return { text: b.text }
    case 'tool_use':
    case 'server_tool_use':
      checkString(`${path}/id`, b.id)
      checkString(`${path}/name`, b.name)
      return { toolUse: { toolUseId: b.id, name: b.name, input: b.input ?? {} } }
    case 'tool_result': {
      checkString(`${path}/tool_use_id`, b.tool_use_id)
      const content = b.content === undefined ? [] : typeof b.content === 'string' ? [{ text: b.content }] : b.content
      check(`${path}/content`, content, Array.isArray(content), 'JSONArray')
      const parts = (content as unknown[]).map((c) => (isObject(c) && typeof c.text === 'string' ? { text: c.text } : {}))
      return { toolResult: { toolUseId: b.tool_use_id, content: parts } }
    }
    case 'thinking':
      checkString(`${path}/thinking`, b.thinking)
      return { reasoningContent: { reasoningText: { text: b.thinking, signature: b.signature } } }
    default:
      // image, document, redacted_thinking, search_result, …: carried along, no countable text.
      return {}
  }
}

function parseTools(json: Record<string, unknown>): { tools: Array<{ toolSpec: { name: string; inputSchema: { json: unknown } } }>; raw: unknown[] } {
  if (json.tools === undefined) return { tools: [], raw: [] }
  check('#/tools', json.tools, Array.isArray(json.tools), 'JSONArray')
  const raw = json.tools as unknown[]
  const tools = raw.map((t, i) => {
    check(`#/tools/${i}`, t, isObject(t), 'JSONObject')
    const tool = t as Record<string, unknown>
    if (tool.name === undefined) malformed(`#/tools/${i}: required key [name] not found`)
    checkString(`#/tools/${i}/name`, tool.name)
    // Client tools carry input_schema; server tools (`type: web_search_…`, `bash_…`) need none.
    if (tool.type === undefined && tool.input_schema === undefined) malformed(`#/tools/${i}: required key [input_schema] not found`)
    return { toolSpec: { name: tool.name, inputSchema: { json: tool.input_schema ?? { type: 'object' } } } }
  })
  return { tools, raw }
}

function parseToolChoice(json: Record<string, unknown>): { type: string; name?: string } | undefined {
  const tc = json.tool_choice
  if (tc === undefined) return undefined
  check('#/tool_choice', tc, isObject(tc), 'JSONObject')
  const c = tc as Record<string, unknown>
  if (!['auto', 'any', 'tool', 'none'].includes(c.type as string)) malformed(`#/tool_choice/type: ${String(c.type)} is not a valid enum value`)
  if (c.type === 'tool') {
    if (c.name === undefined) malformed('#/tool_choice: required key [name] not found')
    checkString('#/tool_choice/name', c.name)
  }
  return { type: c.type as string, name: c.name as string | undefined }
}

function parseThinking(json: Record<string, unknown>, maxTokens: number, toolChoice: string | undefined): boolean {
  const th = json.thinking
  if (th === undefined) return false
  check('#/thinking', th, isObject(th), 'JSONObject')
  const t = th as Record<string, unknown>
  if (!['enabled', 'disabled', 'adaptive'].includes(t.type as string)) malformed(`#/thinking/type: ${String(t.type)} is not a valid enum value`)
  if (t.type === 'disabled') return false
  if (t.type === 'enabled') {
    if (t.budget_tokens === undefined) malformed('#/thinking: required key [budget_tokens] not found')
    check('#/thinking/budget_tokens', t.budget_tokens, Number.isInteger(t.budget_tokens), 'Integer')
    // The next three are Anthropic's own checks, which Bedrock passes on as ValidationException.
    if ((t.budget_tokens as number) < 1024) throw new Invalid('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024')
    if (maxTokens <= (t.budget_tokens as number)) throw new Invalid('`max_tokens` must be greater than `thinking.budget_tokens`.')
  }
  if (json.temperature !== undefined && json.temperature !== 1) {
    throw new Invalid('`temperature` may only be set to 1 when thinking is enabled.')
  }
  if (toolChoice === 'any' || toolChoice === 'tool') throw new Invalid('Thinking may not be enabled when tool_choice forces tool use.')
  return true
}

function parse(text: string): AnthropicRequest {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new Invalid('Malformed input request, please reformat your input and try again.')
  }
  if (!isObject(parsed)) malformed(`#: expected type: JSONObject, found: ${typeName(parsed)}`)
  const json = parsed as Record<string, unknown>
  const missing = REQUIRED_KEYS.filter((k) => json[k] === undefined)
  if (missing.length) malformed(missing.map((k) => `#: required key [${k}] not found`).join(''))
  const extra = Object.keys(json).filter((k) => !ALLOWED_KEYS.has(k))
  if (extra.length) malformed(extra.map((k) => `#: extraneous key [${k}] is not permitted`).join(''))

  checkString('#/anthropic_version', json.anthropic_version)
  if (json.anthropic_beta !== undefined) {
    const beta = json.anthropic_beta
    check('#/anthropic_beta', beta, Array.isArray(beta) && beta.every((b) => typeof b === 'string'), 'JSONArray of String')
  }
  const maxTokens = json.max_tokens
  check('#/max_tokens', maxTokens, Number.isInteger(maxTokens), 'Integer')
  if ((maxTokens as number) < 1) malformed(`#/max_tokens: ${maxTokens} is not greater or equal to 1`)
  checkNumberIn('#/temperature', json.temperature, 0, 1)
  checkNumberIn('#/top_p', json.top_p, 0, 1)
  if (json.top_k !== undefined) check('#/top_k', json.top_k, Number.isInteger(json.top_k) && (json.top_k as number) >= 0, 'Integer >= 0')
  const stops = json.stop_sequences
  if (stops !== undefined) check('#/stop_sequences', stops, Array.isArray(stops) && stops.every((s) => typeof s === 'string'), 'JSONArray of String')

  const toolChoice = parseToolChoice(json)
  const thinking = parseThinking(json, maxTokens as number, toolChoice?.type)
  const { tools, raw: rawTools } = parseTools(json)

  // Walk the prompt in cache order (tools, system, messages), counting chars and noting each cache_control block.
  // A block's bytes, not its marker, are what is cached: a breakpoint moved to a later block in the next turn
  // leaves the earlier blocks' prefix the same.
  const cachePoints: CachePoint[] = []
  const boundaries: Prefix[] = []
  let prefix = ''
  let chars = 0
  const visit = (path: string, raw: unknown, converse: Record<string, unknown>) => {
    const { cache_control: _marker, ...bytes } = isObject(raw) ? raw : { raw }
    prefix += JSON.stringify(isObject(raw) ? bytes : raw) + '\n'
    chars += blockChars(converse)
    const ttl = isObject(raw) ? cacheTtl(path, raw) : undefined
    if (ttl) cachePoints.push({ key: prefix, tokens: tokensForChars(chars), ttl, lookback: boundaries.slice(-LOOKBACK_BLOCKS).reverse() })
    boundaries.push({ key: prefix, tokens: tokensForChars(chars) })
  }
  rawTools.forEach((t, i) => visit(`#/tools/${i}`, t, {}))

  const system: Array<Record<string, unknown>> = []
  if (json.system !== undefined) {
    const sys = typeof json.system === 'string' ? [{ type: 'text', text: json.system }] : json.system
    check('#/system', sys, Array.isArray(sys), 'JSONArray or String')
    ;(sys as unknown[]).forEach((b, i) => {
      const block = toConverseBlock(`#/system/${i}`, b)
      if ((b as Record<string, unknown>).type !== 'text') malformed(`#/system/${i}/type: ${String((b as Record<string, unknown>).type)} is not a valid enum value`)
      system.push(block)
      visit(`#/system/${i}`, b, block)
    })
  }

  check('#/messages', json.messages, Array.isArray(json.messages), 'JSONArray')
  const rawMessages = json.messages as unknown[]
  if (rawMessages.length === 0) malformed('#/messages: expected minimum item count: 1, found: 0')
  const messages = rawMessages.map((m, i) => {
    const path = `#/messages/${i}`
    check(path, m, isObject(m), 'JSONObject')
    const msg = m as Record<string, unknown>
    for (const k of ['role', 'content']) if (msg[k] === undefined) malformed(`${path}: required key [${k}] not found`)
    if (msg.role !== 'user' && msg.role !== 'assistant') malformed(`${path}/role: ${String(msg.role)} is not a valid enum value`)
    prefix += `${msg.role}:`
    if (typeof msg.content === 'string') {
      const block = { text: msg.content }
      visit(`${path}/content`, msg.content, block)
      return { role: msg.role, content: [block] }
    }
    check(`${path}/content`, msg.content, Array.isArray(msg.content), 'JSONArray or String')
    const content = (msg.content as unknown[]).map((b, j) => {
      const block = toConverseBlock(`${path}/content/${j}`, b)
      visit(`${path}/content/${j}`, b, block)
      return block
    })
    return { role: msg.role as 'user' | 'assistant', content }
  })
  if (cachePoints.length > MAX_CACHE_POINTS) {
    throw new Invalid(`A maximum of ${MAX_CACHE_POINTS} blocks with cache_control may be provided. Found ${cachePoints.length}.`)
  }

  // tool_choice none: the model must answer in text, as if no tools were offered.
  const offerTools = tools.length > 0 && toolChoice?.type !== 'none'
  const converse: ConverseBody = {
    messages: messages as ConverseBody['messages'],
    system,
    inferenceConfig: { maxTokens: maxTokens as number },
    toolConfig: offerTools ? { tools, toolChoice: toolChoice?.type === 'tool' ? { tool: { name: toolChoice.name } } : undefined } : undefined,
  }
  return { converse, maxTokens: maxTokens as number, stopSequences: stops as string[] | undefined, thinking, cachePoints }
}

export function parseAnthropicBody(text: string): ParsedAnthropic {
  try {
    return { ok: true, request: parse(text) }
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: awsError(400, 'ValidationException', e.message) }
    throw e
  }
}
