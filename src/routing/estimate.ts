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

/** How a body names its media and binary parts: Converse's (`image`, `document`, `video` keys) or a native one's. */
interface Shape {
  /** Fixed tokens for a media object (or 0), given its key and value. */
  media(key: string, value: Record<string, unknown>): number
  /** Fixed tokens for an object that says itself what it is (Anthropic's `{type: "image", …}` blocks), or 0. */
  block?(value: Record<string, unknown>): number
  /** Keys whose values are binary or markers, not model input. */
  skip: ReadonlySet<string>
}

const CONVERSE_SHAPE: Shape = {
  media: (key, value) => (key === 'image' ? IMAGE_TOKENS : key === 'document' ? documentTokens(value) : key === 'video' ? VIDEO_TOKENS : 0),
  skip: new Set(['bytes', 'cachePoint', 'signature']),
}

/** Native bodies: Anthropic's `{type: "image" | "document", source}` blocks, Nova's Converse-like `image` keys. */
const NATIVE_SHAPE: Shape = {
  media: (key) => (key === 'image' ? IMAGE_TOKENS : key === 'document' ? DOCUMENT_TOKENS : key === 'video' ? VIDEO_TOKENS : 0),
  block: (value) => (value.type === 'image' ? IMAGE_TOKENS : value.type === 'document' ? DOCUMENT_TOKENS : 0),
  skip: new Set(['data', 'bytes', 'source', 'cache_control', 'signature']),
}

/** Characters of text and fixed tokens of media under `root`. */
function measure(root: unknown, shape: Shape = CONVERSE_SHAPE): { chars: number; mediaTokens: number } {
  let chars = 0
  let mediaTokens = 0
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()
    if (typeof value === 'string') chars += value.length
    else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) stack.push(value[i])
    else if (isRecord(value)) {
      if (shape.block) mediaTokens += shape.block(value)
      for (const key in value) {
        const child = value[key]
        const media = isRecord(child) ? shape.media(key, child) : 0
        if (media) mediaTokens += media
        else if (shape.skip.has(key)) continue
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
  const { chars, mediaTokens: media } = measure(body, NATIVE_SHAPE)
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
