/**
 * Input-token estimate of a Converse request, before sending it (for quota reservation and cost ranking): about one
 * token per 4 characters of the text in messages, system prompt, tool specs, tool uses and tool results (JSON keys and
 * values included), plus a fixed amount per image, document and video. One pass over the body, no JSON.stringify,
 * no recursion (deeply nested JSON cannot overflow the stack), never throws.
 */
import type { RequestEstimate } from './types'

export const CHARS_PER_TOKEN = 4
export const IMAGE_TOKENS = 1600
/** A binary document (PDF, DOCX, XLSX…): a few pages. Text documents (txt, md, csv, html) count by size. */
export const DOCUMENT_TOKENS = 3000
export const VIDEO_TOKENS = 10_000
/** Scalars other than strings (numbers, booleans, null), in characters. */
const SCALAR_CHARS = 4

const TEXT_DOCUMENT_FORMATS = new Set(['txt', 'md', 'csv', 'html'])
/** Parts of the body that reach the model as input. */
const INPUT_FIELDS = ['system', 'messages', 'toolConfig', 'promptVariables'] as const

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function documentTokens(document: Record<string, unknown>): number {
  const source = document.source
  const format = typeof document.format === 'string' ? document.format.toLowerCase() : ''
  if (TEXT_DOCUMENT_FORMATS.has(format) && isRecord(source)) {
    if (typeof source.text === 'string') return Math.ceil(source.text.length / CHARS_PER_TOKEN)
    // bytes: base64 in JSON, 3 bytes per 4 characters
    if (typeof source.bytes === 'string') return Math.ceil((source.bytes.length * 0.75) / CHARS_PER_TOKEN)
  }
  return DOCUMENT_TOKENS
}

/** Characters of text and fixed tokens of media under `root`. */
function measure(root: unknown): { chars: number; mediaTokens: number } {
  let chars = 0
  let mediaTokens = 0
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value === 'string') chars += value.length
    else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) stack.push(value[i])
    else if (isRecord(value)) {
      for (const key in value) {
        const child = value[key]
        if (key === 'image' && isRecord(child)) mediaTokens += IMAGE_TOKENS
        else if (key === 'document' && isRecord(child)) mediaTokens += documentTokens(child)
        else if (key === 'video' && isRecord(child)) mediaTokens += VIDEO_TOKENS
        else if (key === 'bytes' || key === 'cachePoint' || key === 'signature') continue // binary, markers
        else {
          chars += key.length
          stack.push(child)
        }
      }
    } else if (value !== undefined) chars += SCALAR_CHARS
  }
  return { chars, mediaTokens }
}

export function estimateRequest(body: unknown, stream: boolean): RequestEstimate {
  const estimate: RequestEstimate = { inputTokens: 0, stream }
  if (!isRecord(body)) return estimate
  let chars = 0
  let media = 0
  for (const field of INPUT_FIELDS) {
    if (body[field] === undefined) continue
    const m = measure(body[field])
    chars += m.chars
    media += m.mediaTokens
  }
  estimate.inputTokens = Math.ceil(chars / CHARS_PER_TOKEN) + media
  const config = body.inferenceConfig
  if (isRecord(config) && typeof config.maxTokens === 'number' && Number.isFinite(config.maxTokens) && config.maxTokens > 0) {
    estimate.maxTokens = Math.floor(config.maxTokens)
  }
  return estimate
}

/** Fields of native (InvokeModel) bodies that set the output cap, by model family. */
const NATIVE_MAX_TOKENS = ['max_tokens', 'max_tokens_to_sample', 'maxTokens', 'max_gen_len', 'max_new_tokens'] as const

/**
 * Input-token estimate of an InvokeModel request, whose body is the model's own format: the text of the whole body
 * (keys and values; base64 `data`/`bytes` skipped, images and documents at their fixed amounts), and the output cap
 * from whichever field the family uses (`max_tokens` for Claude, `inferenceConfig.maxTokens` for Nova, …).
 */
export function estimateNativeRequest(body: unknown, stream: boolean, family?: string): RequestEstimate {
  const estimate: RequestEstimate = { inputTokens: 0, stream }
  if (family) estimate.family = family
  if (!isRecord(body)) return estimate
  let chars = 0
  let media = 0
  const stack: unknown[] = [body]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value === 'string') chars += value.length
    else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) stack.push(value[i])
    else if (isRecord(value)) {
      if (value.type === 'image' || isRecord(value.image)) media += IMAGE_TOKENS
      else if (value.type === 'document' || isRecord(value.document)) media += DOCUMENT_TOKENS
      for (const key in value) {
        if (key === 'data' || key === 'bytes' || key === 'source' || key === 'cache_control' || key === 'signature') continue
        chars += key.length
        stack.push(value[key])
      }
    } else if (value !== undefined) chars += SCALAR_CHARS
  }
  estimate.inputTokens = Math.ceil(chars / CHARS_PER_TOKEN) + media
  const config = isRecord(body.inferenceConfig) ? body.inferenceConfig : body
  for (const field of NATIVE_MAX_TOKENS) {
    const v = config[field] ?? body[field]
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
      estimate.maxTokens = Math.floor(v)
      break
    }
  }
  return estimate
}
