/** Parsing and validation of Converse / ConverseStream request bodies, and input-token estimation. */
import { awsError, type AwsError } from './errors'

export interface ToolSpec {
  name: string
  inputSchema?: { json?: unknown }
}

export interface ConverseBody {
  messages: Array<{ role: 'user' | 'assistant'; content: Array<Record<string, unknown>> }>
  system?: Array<Record<string, unknown>>
  inferenceConfig?: { maxTokens?: number }
  toolConfig?: { tools?: Array<{ toolSpec?: ToolSpec }>; toolChoice?: { tool?: { name?: string } } }
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
