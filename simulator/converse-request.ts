/** Parsing and validation of Converse / ConverseStream request bodies, and input-token estimation. */
import { awsError, type AwsError } from './errors'
import { LOOKBACK_BLOCKS, type CachePoint, type Prefix } from './prompt-cache'

export interface ToolSpec {
  name: string
  inputSchema?: { json?: unknown }
}

export interface ConverseBody {
  messages: Array<{ role: 'user' | 'assistant'; content: Array<Record<string, unknown>> }>
  system?: Array<Record<string, unknown>>
  inferenceConfig?: { maxTokens?: number }
  toolConfig?: { tools?: Array<{ toolSpec?: ToolSpec; cachePoint?: unknown }>; toolChoice?: { tool?: { name?: string } } }
}

export type ParsedBody = { ok: true; body: ConverseBody } | { ok: false; error: AwsError }

const invalid = (message: string): ParsedBody => ({ ok: false, error: awsError(400, 'ValidationException', message) })

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function parseConverseBody(text: string): ParsedBody {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return invalid('Malformed input request, please reformat your input and try again.')
  }
  return validateConverseBody(json)
}

/** Validates an already parsed Converse body (also the `converse` input of CountTokens, and Nova's native body). */
export function validateConverseBody(json: unknown): ParsedBody {
  if (!isObject(json)) return invalid('Malformed input request, please reformat your input and try again.')
  const { messages, inferenceConfig, system } = json
  if (messages === undefined) return invalid('Malformed input request: #: required key [messages] not found, please reformat your input and try again.')
  if (!Array.isArray(messages) || messages.length === 0) {
    return invalid('1 validation error detected: Value at \'messages\' failed to satisfy constraint: Member must have length greater than or equal to 1')
  }
  for (const [i, m] of messages.entries()) {
    if (!isObject(m) || (m.role !== 'user' && m.role !== 'assistant') || !Array.isArray(m.content)) {
      return invalid(`Malformed input request: messages[${i}] must have a role ("user" or "assistant") and a content array, please reformat your input and try again.`)
    }
  }
  if (system !== undefined && !Array.isArray(system)) return invalid('Malformed input request: system must be an array, please reformat your input and try again.')
  if (inferenceConfig !== undefined) {
    if (!isObject(inferenceConfig)) return invalid('Malformed input request: inferenceConfig must be an object, please reformat your input and try again.')
    const mt = inferenceConfig.maxTokens
    if (mt !== undefined && (typeof mt !== 'number' || !Number.isInteger(mt) || mt < 1)) {
      return invalid(`1 validation error detected: Value '${String(mt)}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1`)
    }
  }
  return { ok: true, body: json as unknown as ConverseBody }
}

/** Characters of countable text in one Converse content block (text, tool input/result, reasoning). */
export function blockChars(block: unknown): number {
  if (!isObject(block)) return 0
  let n = 0
  if (typeof block.text === 'string') n += block.text.length
  if (isObject(block.toolUse)) n += JSON.stringify(block.toolUse.input ?? {}).length
  if (isObject(block.toolResult) && Array.isArray(block.toolResult.content)) {
    for (const c of block.toolResult.content) {
      if (isObject(c) && typeof c.text === 'string') n += c.text.length
      else if (isObject(c) && c.json !== undefined) n += JSON.stringify(c.json).length
    }
  }
  if (isObject(block.reasoningContent) && isObject(block.reasoningContent.reasoningText)) {
    const t = block.reasoningContent.reasoningText.text
    if (typeof t === 'string') n += t.length
  }
  return n
}

/** Characters of text in messages + system (text, tool inputs/results, reasoning). */
export function inputChars(body: ConverseBody): number {
  let n = 0
  for (const m of body.messages) for (const b of m.content) n += blockChars(b)
  for (const b of body.system ?? []) n += blockChars(b)
  return n
}

/** ≈ ceil(chars / 4), at least 1. */
export function countInputTokens(body: ConverseBody): number {
  return Math.max(1, Math.ceil(inputChars(body) / 4))
}

/** The tool the model should "call", or undefined when it should answer with text. */
export function chooseTool(body: ConverseBody): ToolSpec | undefined {
  const specs = (body.toolConfig?.tools ?? []).map((t) => t?.toolSpec).filter((s): s is ToolSpec => isObject(s) && typeof s.name === 'string')
  if (specs.length === 0) return undefined
  const last = body.messages[body.messages.length - 1]
  // After a tool result the model answers in text, so agent loops terminate.
  if (last.role === 'user' && last.content.some((b) => isObject(b) && b.toolResult !== undefined)) return undefined
  const wanted = body.toolConfig?.toolChoice?.tool?.name
  return specs.find((s) => s.name === wanted) ?? specs[0]
}

/** Bedrock allows at most this many cache checkpoints in one request. */
export const MAX_CONVERSE_CACHE_POINTS = 4

/**
 * The prompt-cache prefixes of a Converse request: each `cachePoint` block (in tools, system or a message's content)
 * ends one, in cache order — tools, system, messages. `tokens` counts the prompt before the block (as
 * countInputTokens does); `key` is that prompt serialised, role by role. An invalid cachePoint or too many are
 * Bedrock's ValidationException.
 */
export function converseCachePoints(body: ConverseBody): { ok: true; points: CachePoint[] } | { ok: false; error: AwsError } {
  const points: CachePoint[] = []
  /** Prefixes at every block boundary so far, newest last (a breakpoint looks back over the last few). */
  const boundaries: Prefix[] = []
  let prefix = ''
  let chars = 0
  let problem: string | undefined
  const visit = (where: string, block: unknown) => {
    if (isObject(block) && block.cachePoint !== undefined) {
      const cp = block.cachePoint
      if (!isObject(cp) || cp.type !== 'default') problem ??= `Value at '${where}.cachePoint.type' failed to satisfy constraint: Member must satisfy enum value set: [default]`
      else if (cp.ttl !== undefined && cp.ttl !== '5m' && cp.ttl !== '1h') problem ??= `Value at '${where}.cachePoint.ttl' failed to satisfy constraint: Member must satisfy enum value set: [5m, 1h]`
      else {
        const lookback = boundaries.slice(-LOOKBACK_BLOCKS - 1, -1).reverse()
        points.push({ key: prefix, tokens: Math.ceil(chars / 4), ttl: cp.ttl === '1h' ? '1h' : '5m', lookback })
      }
      return
    }
    prefix += JSON.stringify(block) + '\n'
    chars += blockChars(block)
    boundaries.push({ key: prefix, tokens: Math.ceil(chars / 4) })
  }
  ;(body.toolConfig?.tools ?? []).forEach((t, i) => visit(`toolConfig.tools.${i + 1}.member`, t))
  ;(body.system ?? []).forEach((b, i) => visit(`system.${i + 1}.member`, b))
  body.messages.forEach((m, i) => {
    prefix += `${m.role}:`
    m.content.forEach((b, j) => visit(`messages.${i + 1}.member.content.${j + 1}.member`, b))
  })
  if (problem) return { ok: false, error: awsError(400, 'ValidationException', `1 validation error detected: ${problem}`) }
  if (points.length > MAX_CONVERSE_CACHE_POINTS) {
    return { ok: false, error: awsError(400, 'ValidationException', `The number of cache checkpoints (${points.length}) exceeds the maximum of ${MAX_CONVERSE_CACHE_POINTS}.`) }
  }
  return { ok: true, points }
}
