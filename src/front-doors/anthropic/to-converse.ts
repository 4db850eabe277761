/**
 * An Anthropic Messages request translated into Converse, for pools without a Claude deployment (Nova, Llama,
 * Mistral, …). Claude deployments take the Messages body as it is (to-invoke.ts); this is the path for the rest.
 *
 *   system (string or text blocks)       → system text blocks; `cache_control` → a cachePoint after the block
 *   text / image / document blocks       → text / image / document blocks (base64 sources; URLs refused)
 *   tool_use / tool_result               → toolUse / toolResult (ids kept), is_error → status "error"
 *   thinking / redacted_thinking         → reasoningContent
 *   max_tokens, temperature, top_p, stop_sequences → inferenceConfig
 *   tools, tool_choice (auto/any/tool/none)        → toolConfig
 * Refused with a 400 naming the field: `thinking` and `top_k` (Claude-only here), URL sources, unknown block types.
 */

import { anthropicTier } from './to-invoke'
import { unexpectedRole } from './to-invoke'

export type ToConverse = { ok: true; body: Record<string, unknown>; stream: boolean; endUser?: string } | { ok: false; message: string }

type Block = Record<string, unknown>
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

class Refused extends Error {}

const IMAGE_TYPES: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpeg', 'image/gif': 'gif', 'image/webp': 'webp' }
const DOCUMENT_TYPES: Record<string, string> = { 'application/pdf': 'pdf', 'text/plain': 'txt', 'text/csv': 'csv', 'text/html': 'html', 'text/markdown': 'md' }
const KNOWN = new Set(['model', 'messages', 'system', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop_sequences', 'stream', 'tools', 'tool_choice', 'metadata', 'thinking', 'service_tier'])

export function messagesToConverse(request: Record<string, unknown>, family: string): ToConverse {
  try {
    return translate(request, family)
  } catch (e) {
    if (e instanceof Refused) return { ok: false, message: e.message }
    throw e
  }
}

function translate(request: Record<string, unknown>, family: string): ToConverse {
  for (const key of Object.keys(request)) if (!KNOWN.has(key)) throw new Refused(`${key}: Extra inputs are not permitted`)
  if (request.thinking !== undefined) throw new Refused(`thinking: extended thinking is served on Claude deployments only; this pool routes to ${family} models`)
  if (request.top_k !== undefined) throw new Refused(`top_k: not supported on ${family} models through Converse`)
  const max = request.max_tokens
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new Refused('max_tokens: Field required (a whole number ≥ 1)')
  if (!Array.isArray(request.messages) || request.messages.length === 0) throw new Refused('messages: must be a non-empty array')

  const body: Record<string, unknown> = {}
  const system = systemBlocks(request.system)
  if (system.length) body.system = system
  const messages = request.messages.map((m, i) => {
    if (!isObject(m) || (m.role !== 'user' && m.role !== 'assistant')) throw new Refused(unexpectedRole(i, m))
    return { role: m.role, content: contentBlocks(m.content, `messages.${i}.content`) }
  })
  body.messages = messages

  const inference: Record<string, unknown> = { maxTokens: max }
  if (request.temperature !== undefined) inference.temperature = number(request.temperature, 'temperature', 0, 1)
  if (request.top_p !== undefined) inference.topP = number(request.top_p, 'top_p', 0, 1)
  if (request.stop_sequences !== undefined) {
    if (!Array.isArray(request.stop_sequences) || !request.stop_sequences.every((s) => typeof s === 'string')) throw new Refused('stop_sequences: must be an array of strings')
    if (request.stop_sequences.length) inference.stopSequences = request.stop_sequences
  }
  body.inferenceConfig = inference

  const tools = toolSpecs(request.tools)
  const choice = request.tool_choice
  if (choice !== undefined && !isObject(choice)) throw new Refused('tool_choice: must be an object')
  const type = isObject(choice) ? choice.type : 'auto'
  const usesTools = messages.some((m) => m.content.some((b) => b.toolUse || b.toolResult))
  if (tools.length && (type !== 'none' || usesTools)) {
    const toolConfig: Record<string, unknown> = { tools }
    if (type === 'any') toolConfig.toolChoice = { any: {} }
    else if (type === 'tool') {
      const name = isObject(choice) ? choice.name : undefined
      if (typeof name !== 'string' || !tools.some((t) => (t.toolSpec as Block).name === name)) throw new Refused('tool_choice.name: must name one of the tools')
      toolConfig.toolChoice = { tool: { name } }
    } else if (type === 'auto') toolConfig.toolChoice = { auto: {} }
    else if (type !== 'none') throw new Refused('tool_choice.type: must be auto, any, tool or none')
    body.toolConfig = toolConfig
  } else if (type === 'any' || type === 'tool') throw new Refused('tool_choice: needs tools')

  const stream = request.stream
  if (stream !== undefined && typeof stream !== 'boolean') throw new Refused('stream: must be a boolean')
  const tier = anthropicTier(request.service_tier)
  if (tier === null) throw new Refused('service_tier: must be auto or standard_only')
  if (tier) body.serviceTier = { type: tier }
  const metadata = request.metadata
  const endUser = isObject(metadata) && typeof metadata.user_id === 'string' ? metadata.user_id : undefined
  return { ok: true, body, stream: stream === true, endUser }
}

function number(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new Refused(`${what}: must be a number from ${min} to ${max}`)
  return v
}

function systemBlocks(system: unknown): Block[] {
  if (system === undefined) return []
  if (typeof system === 'string') return system ? [{ text: system }] : []
  if (!Array.isArray(system)) throw new Refused('system: must be a string or an array of text blocks')
  return system.flatMap((b, i) => {
    if (!isObject(b) || b.type !== 'text' || typeof b.text !== 'string') throw new Refused(`system.${i}: must be a text block`)
    return withCachePoint([{ text: b.text }], b)
  })
}

/** Anthropic's `cache_control` marks the end of a cached prefix: Converse's cachePoint block does the same (its TTL too). */
function withCachePoint(blocks: Block[], source: Record<string, unknown>): Block[] {
  if (!isObject(source.cache_control)) return blocks
  const ttl = source.cache_control.ttl
  return [...blocks, { cachePoint: { type: 'default', ...(ttl === '1h' || ttl === '5m' ? { ttl } : {}) } }]
}

function contentBlocks(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return [{ text: content }]
  if (!Array.isArray(content) || content.length === 0) throw new Refused(`${at}: must be a string or a non-empty array of blocks`)
  return content.flatMap((b, j) => withCachePoint([contentBlock(b, `${at}.${j}`)], isObject(b) ? b : {}))
}

function contentBlock(b: unknown, at: string): Block {
  if (!isObject(b)) throw new Refused(`${at}: must be a content block`)
  switch (b.type) {
    case 'text':
      if (typeof b.text !== 'string') throw new Refused(`${at}.text: must be a string`)
      return { text: b.text }
    case 'image':
      return { image: { format: sourceFormat(b.source, IMAGE_TYPES, `${at}.source`), source: { bytes: base64Source(b.source, `${at}.source`) } } }
    case 'document': {
      const source = b.source
      if (isObject(source) && source.type === 'text' && typeof source.data === 'string') {
        return { document: { format: 'txt', name: documentName(b), source: { text: source.data } } }
      }
      return { document: { format: sourceFormat(source, DOCUMENT_TYPES, `${at}.source`), name: documentName(b), source: { bytes: base64Source(source, `${at}.source`) } } }
    }
    case 'tool_use':
      if (typeof b.id !== 'string' || typeof b.name !== 'string') throw new Refused(`${at}: tool_use needs an id and a name`)
      return { toolUse: { toolUseId: b.id, name: b.name, input: isObject(b.input) ? b.input : {} } }
    case 'tool_result': {
      if (typeof b.tool_use_id !== 'string') throw new Refused(`${at}.tool_use_id: Field required`)
      const inner = b.content === undefined ? [] : typeof b.content === 'string' ? [{ text: b.content }] : contentBlocks(b.content, `${at}.content`).filter((x) => !x.cachePoint)
      const result: Block = { toolUseId: b.tool_use_id, content: inner.length ? inner : [{ text: '' }] }
      if (b.is_error === true) result.status = 'error'
      return { toolResult: result }
    }
    case 'thinking':
      return { reasoningContent: { reasoningText: { text: String(b.thinking ?? ''), ...(typeof b.signature === 'string' ? { signature: b.signature } : {}) } } }
    case 'redacted_thinking':
      return { reasoningContent: { redactedContent: String(b.data ?? '') } }
    default:
      throw new Refused(`${at}.type: ${JSON.stringify(b.type)} blocks are not supported through Converse`)
  }
}

function sourceFormat(source: unknown, types: Record<string, string>, at: string): string {
  if (!isObject(source) || source.type !== 'base64') throw new Refused(`${at}: only base64 sources are supported (the router fetches nothing on a client's behalf)`)
  const format = typeof source.media_type === 'string' ? types[source.media_type] : undefined
  if (!format) throw new Refused(`${at}.media_type: one of ${Object.keys(types).join(', ')}`)
  return format
}

function base64Source(source: unknown, at: string): string {
  const data = isObject(source) ? source.data : undefined
  if (typeof data !== 'string' || !data) throw new Refused(`${at}.data: base64 data required`)
  return data
}

/** Converse requires a document name of letters, digits, spaces, hyphens, parentheses and brackets. */
function documentName(b: Record<string, unknown>): string {
  const title = typeof b.title === 'string' ? b.title.replace(/[^A-Za-z0-9 ()[\]-]/g, ' ').replace(/\s+/g, ' ').trim() : ''
  return title.slice(0, 200) || 'document'
}

function toolSpecs(tools: unknown): Block[] {
  if (tools === undefined) return []
  if (!Array.isArray(tools)) throw new Refused('tools: must be an array')
  return tools.map((t, i) => {
    if (!isObject(t) || typeof t.name !== 'string') throw new Refused(`tools.${i}.name: Field required`)
    if (t.type !== undefined && t.type !== 'custom') throw new Refused(`tools.${i}.type: server tools (${String(t.type)}) are not supported through Converse`)
    const spec: Block = { name: t.name, inputSchema: { json: isObject(t.input_schema) ? t.input_schema : { type: 'object', properties: {} } } }
    if (typeof t.description === 'string' && t.description) spec.description = t.description
    return { toolSpec: spec }
  })
}
