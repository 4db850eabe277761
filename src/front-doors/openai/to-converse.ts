/**
 * An OpenAI chat completions request, translated into a Converse request — or refused with a 400 naming the
 * parameter, when it asks for something Converse cannot do. Nothing is approximated silently: a parameter is
 * mapped, ignored because it changes nothing the client can observe (`store`, `seed`,
 * `parallel_tool_calls`), or refused.
 *
 *   system / developer messages  → `system` text blocks (in order)
 *   user content parts           → text / image blocks (images as data URLs or base64; no remote URLs)
 *   assistant `tool_calls`       → toolUse blocks (ids kept, so results match); `tool` messages → toolResult blocks
 *   consecutive same-role turns  → one Converse message (Converse requires user and assistant to alternate)
 *   max_(completion_)tokens, temperature, top_p, stop → inferenceConfig
 *   tools / tool_choice          → toolConfig (auto → auto, required → any, a named function → tool)
 *   response_format json_schema / json_object → one forced tool whose input is the answer (rendered back as content)
 *   reasoning_effort             → Claude `thinking` budget or Nova 2 `reasoningConfig`, for models that think
 *   prompt_cache_key             → the request's session, for prompt-cache affinity (src/routing/affinity.ts)
 */
import { reasoningStyleOf } from '../../routing/models'

export interface Translated {
  converse: Record<string, unknown>
  stream: boolean
  /** `stream_options.include_usage`: a final chunk with usage. */
  includeUsage: boolean
  /** The forced tool that carries a `response_format` answer: its input is rendered as the message content. */
  jsonTool?: string
  /** OpenAI `user`: the end user, for logs and accounting. */
  endUser?: string
  /** OpenAI `metadata`, for logs and accounting. */
  tags?: Record<string, string>
  /** OpenAI `prompt_cache_key`: requests sharing it go to the deployment that has their prefix cached. */
  session?: string
}

export interface RequestRefusal {
  message: string
  /** The offending parameter, as OpenAI names it (`messages[2].content[0].image_url`). */
  param: string | null
}

export type Translation = { ok: true; value: Translated } | { ok: false; refusal: RequestRefusal }

/** The name of the tool that stands in for `response_format` when no schema name is given. */
export const JSON_TOOL = 'json_response'

/** Thinking budgets (tokens) for Claude per `reasoning_effort`; Claude requires at least 1024. */
const THINKING_BUDGET: Record<string, number> = { low: 1024, medium: 4096, high: 16384 }

const KNOWN = new Set([
  // mapped
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'stop', 'n',
  'tools', 'tool_choice', 'response_format', 'reasoning_effort', 'user', 'metadata', 'prompt_cache_key',
  // accepted and ignored: they change nothing a client can observe of the answer
  'store', 'seed', 'parallel_tool_calls',
  // mapped: service_tier (below)
  'service_tier',
  // refused unless at their neutral value (below)
  'frequency_penalty', 'presence_penalty', 'logit_bias', 'logprobs', 'top_logprobs', 'modalities',
])

class Refused extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message)
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function toConverse(body: Record<string, unknown>, modelId: string): Translation {
  try {
    return { ok: true, value: translate(body, modelId) }
  } catch (e) {
    if (e instanceof Refused) return { ok: false, refusal: { message: e.message, param: e.param } }
    throw e
  }
}

function translate(body: Record<string, unknown>, modelId: string): Translated {
  for (const key of Object.keys(body)) {
    if (!KNOWN.has(key)) throw new Refused(`Unrecognized request argument supplied: ${key}`, key)
  }
  neutral(body, 'frequency_penalty', (v) => v === 0, 'frequency_penalty is not supported by Bedrock Converse')
  neutral(body, 'presence_penalty', (v) => v === 0, 'presence_penalty is not supported by Bedrock Converse')
  neutral(body, 'logit_bias', (v) => isObject(v) && Object.keys(v).length === 0, 'logit_bias is not supported by Bedrock Converse')
  neutral(body, 'logprobs', (v) => v === false, 'logprobs are not available from Bedrock Converse')
  neutral(body, 'top_logprobs', (v) => v === 0, 'logprobs are not available from Bedrock Converse')
  neutral(body, 'modalities', (v) => Array.isArray(v) && v.every((m) => m === 'text'), 'only text output is supported')
  neutral(body, 'n', (v) => v === 1, 'n must be 1: one choice per request')

  const stream = optionalBoolean(body, 'stream') ?? false
  const streamOptions = body.stream_options
  if (streamOptions !== undefined && streamOptions !== null && !isObject(streamOptions)) throw new Refused('stream_options must be an object', 'stream_options')
  const includeUsage = stream && isObject(streamOptions) && streamOptions.include_usage === true

  const converse: Record<string, unknown> = {}
  const { system, messages } = translateMessages(body.messages)
  if (system.length) converse.system = system
  converse.messages = messages

  const inference: Record<string, unknown> = {}
  const maxTokens = optionalInteger(body, 'max_completion_tokens') ?? optionalInteger(body, 'max_tokens')
  if (maxTokens !== undefined) inference.maxTokens = maxTokens
  const temperature = optionalNumber(body, 'temperature', 0, 2)
  // OpenAI's temperature runs 0–2, Converse's 0–1 for most models: above 1 cannot be honoured.
  if (temperature !== undefined && temperature > 1) throw new Refused('temperature above 1 is not supported by Bedrock models (their range is 0–1)', 'temperature')
  if (temperature !== undefined) inference.temperature = temperature
  const topP = optionalNumber(body, 'top_p', 0, 1)
  if (topP !== undefined) inference.topP = topP
  const stop = body.stop
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string') || list.length > 4) {
      throw new Refused('stop must be a string or an array of at most 4 strings', 'stop')
    }
    if (list.length) inference.stopSequences = list
  }

  const tools = translateTools(body.tools)
  const toolChoice = translateToolChoice(body.tool_choice, tools)
  const jsonTool = translateResponseFormat(body.response_format, tools.length > 0, modelId)
  if (jsonTool) {
    tools.push(jsonTool.tool)
    converse.toolConfig = { tools, toolChoice: { tool: { name: jsonTool.name } } }
  } else if (tools.length && toolChoice !== 'none') {
    converse.toolConfig = { tools, ...(toolChoice ? { toolChoice } : {}) }
  } else if (tools.length && usesTools(messages)) {
    // tool_choice none, but the conversation holds tool calls: Converse requires the tools to be declared.
    converse.toolConfig = { tools }
  }

  const thinking = translateReasoning(body.reasoning_effort, modelId, inference)
  if (thinking?.thinking && (jsonTool || (isObject(toolChoice) && (toolChoice.any || toolChoice.tool)))) {
    throw new Refused('reasoning_effort cannot be combined with a forced tool call (tool_choice required or a named function, or response_format) on Claude', 'reasoning_effort')
  }
  if (thinking) converse.additionalModelRequestFields = thinking
  if (Object.keys(inference).length) converse.inferenceConfig = inference
  // OpenAI's tiers have Bedrock namesakes; `auto` (or none) leaves the choice to the router's pool.
  const tier = body.service_tier
  if (tier === 'default' || tier === 'flex' || tier === 'priority') converse.serviceTier = { type: tier }
  else if (tier !== undefined && tier !== null && tier !== 'auto') throw new Refused('service_tier: must be auto, default, flex or priority', 'service_tier')

  const endUser = optionalString(body, 'user')
  const tags = translateMetadata(body.metadata)
  const session = optionalString(body, 'prompt_cache_key')
  return { converse, stream, includeUsage, jsonTool: jsonTool?.name, endUser, tags, ...(session ? { session } : {}) }
}

function neutral(body: Record<string, unknown>, key: string, isNeutral: (v: unknown) => boolean, why: string) {
  const v = body[key]
  if (v !== undefined && v !== null && !isNeutral(v)) throw new Refused(`${why} (${key})`, key)
}

function optionalBoolean(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') throw new Refused(`${key} must be true or false`, key)
  return v
}

function optionalInteger(body: Record<string, unknown>, key: string): number | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Refused(`${key} must be a whole number ≥ 1`, key)
  return v
}

function optionalNumber(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new Refused(`${key} must be a number from ${min} to ${max}`, key)
  return v
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new Refused(`${key} must be a string`, key)
  return v
}

type Block = Record<string, unknown>
type Message = { role: 'user' | 'assistant'; content: Block[] }

function translateMessages(raw: unknown): { system: Block[]; messages: Message[] } {
  if (!Array.isArray(raw) || raw.length === 0) throw new Refused('messages must be a non-empty array', 'messages')
  const system: Block[] = []
  const messages: Message[] = []
  const push = (role: Message['role'], content: Block[]) => {
    const last = messages[messages.length - 1]
    if (last && last.role === role) last.content.push(...content)
    else messages.push({ role, content })
  }
  raw.forEach((m, i) => {
    const at = `messages[${i}]`
    if (!isObject(m)) throw new Refused(`${at} must be an object`, at)
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(...textParts(m.content, `${at}.content`).map((text) => ({ text })))
        return
      case 'user':
        push('user', userContent(m.content, `${at}.content`))
        return
      case 'assistant':
        push('assistant', assistantContent(m, at))
        return
      case 'tool': {
        if (typeof m.tool_call_id !== 'string' || !m.tool_call_id) throw new Refused(`${at}.tool_call_id must be a non-empty string`, `${at}.tool_call_id`)
        const text = textParts(m.content, `${at}.content`).join('')
        push('user', [{ toolResult: { toolUseId: toolUseId(m.tool_call_id), content: [{ text }] } }])
        return
      }
      case 'function':
        throw new Refused(`${at}: the deprecated function role is not supported; use tools and tool messages`, `${at}.role`)
      default:
        throw new Refused(`${at}.role must be one of system, developer, user, assistant, tool`, `${at}.role`)
    }
  })
  if (messages.length === 0) throw new Refused('messages must contain at least one user message', 'messages')
  if (messages[0].role !== 'user') throw new Refused('the first non-system message must be from the user (Bedrock Converse requires it)', 'messages')
  return { system, messages }
}

/** Text of a string or an array of text parts. */
function textParts(content: unknown, at: string): string[] {
  if (typeof content === 'string') return [content]
  if (!Array.isArray(content)) throw new Refused(`${at} must be a string or an array of content parts`, at)
  return content.map((part, j) => {
    if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') throw new Refused(`${at}[${j}] must be a text part`, `${at}[${j}]`)
    return part.text
  })
}

function userContent(content: unknown, at: string): Block[] {
  if (typeof content === 'string') return [{ text: content }]
  if (!Array.isArray(content) || content.length === 0) throw new Refused(`${at} must be a string or a non-empty array of content parts`, at)
  return content.map((part, j) => {
    const where = `${at}[${j}]`
    if (!isObject(part)) throw new Refused(`${where} must be a content part`, where)
    if (part.type === 'text') {
      if (typeof part.text !== 'string') throw new Refused(`${where}.text must be a string`, `${where}.text`)
      return { text: part.text }
    }
    if (part.type === 'image_url') {
      const url = isObject(part.image_url) ? part.image_url.url : undefined
      if (typeof url !== 'string') throw new Refused(`${where}.image_url.url must be a string`, `${where}.image_url`)
      return imageBlock(url, `${where}.image_url`)
    }
    throw new Refused(`${where}: content parts of type ${JSON.stringify(part.type)} are not supported (text and image_url are)`, `${where}.type`)
  })
}

const IMAGE_FORMATS: Record<string, string> = { png: 'png', jpeg: 'jpeg', jpg: 'jpeg', gif: 'gif', webp: 'webp' }
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** A data URL (or bare base64) as a Converse image block. Remote URLs are refused: the router fetches nothing on a client's behalf. */
function imageBlock(url: string, at: string): Block {
  const m = /^data:image\/([a-zA-Z]+);base64,(.*)$/s.exec(url)
  let format: string | undefined
  let data: string
  if (m) {
    format = IMAGE_FORMATS[m[1].toLowerCase()]
    data = m[2]
    if (!format) throw new Refused(`${at}: image/${m[1]} is not supported (png, jpeg, gif, webp are)`, at)
  } else if (/^https?:/i.test(url)) {
    throw new Refused(`${at}: remote image URLs are not supported; send the image as a data URL (data:image/png;base64,…)`, at)
  } else {
    data = url
    format = sniffImage(url)
    if (!format) throw new Refused(`${at}: not a data URL, and the base64 data is not a png, jpeg, gif or webp image`, at)
  }
  data = data.replace(/\s+/g, '')
  if (!data || !BASE64.test(data)) throw new Refused(`${at}: the image data is not valid base64`, at)
  return { image: { format, source: { bytes: data } } }
}

/** The image format of bare base64 data, from its first bytes. */
function sniffImage(b64: string): string | undefined {
  if (b64.startsWith('iVBORw0KGgo')) return 'png'
  if (b64.startsWith('/9j/')) return 'jpeg'
  if (b64.startsWith('R0lGOD')) return 'gif'
  if (b64.startsWith('UklGR')) return 'webp'
  return undefined
}

function assistantContent(m: Record<string, unknown>, at: string): Block[] {
  const blocks: Block[] = []
  if (m.content !== undefined && m.content !== null) {
    if (typeof m.content === 'string') {
      if (m.content) blocks.push({ text: m.content })
    } else if (Array.isArray(m.content)) {
      m.content.forEach((part, j) => {
        if (!isObject(part) || (part.type !== 'text' && part.type !== 'refusal')) throw new Refused(`${at}.content[${j}] must be a text part`, `${at}.content[${j}]`)
        const text = part.type === 'text' ? part.text : part.refusal
        if (typeof text !== 'string') throw new Refused(`${at}.content[${j}] has no text`, `${at}.content[${j}]`)
        if (text) blocks.push({ text })
      })
    } else {
      throw new Refused(`${at}.content must be a string, an array of text parts or null`, `${at}.content`)
    }
  }
  const calls = m.tool_calls
  if (calls !== undefined && calls !== null) {
    if (!Array.isArray(calls)) throw new Refused(`${at}.tool_calls must be an array`, `${at}.tool_calls`)
    calls.forEach((call, j) => {
      const where = `${at}.tool_calls[${j}]`
      if (!isObject(call) || typeof call.id !== 'string' || !call.id || !isObject(call.function) || typeof call.function.name !== 'string') {
        throw new Refused(`${where} must have an id and a function with a name`, where)
      }
      const args = call.function.arguments
      let input: unknown = {}
      if (typeof args === 'string' && args.trim()) {
        try {
          input = JSON.parse(args)
        } catch {
          throw new Refused(`${where}.function.arguments is not valid JSON`, `${where}.function.arguments`)
        }
      }
      if (!isObject(input)) throw new Refused(`${where}.function.arguments must be a JSON object`, `${where}.function.arguments`)
      blocks.push({ toolUse: { toolUseId: toolUseId(call.id), name: call.function.name, input } })
    })
  }
  if (blocks.length === 0) throw new Refused(`${at} has neither content nor tool_calls`, at)
  return blocks
}

/**
 * A tool call id Converse accepts (`[a-zA-Z0-9_.:-]{1,64}`). Ids Bedrock minted pass unchanged; others are mapped
 * the same way wherever they appear, so a call and its result still match.
 */
function toolUseId(id: string): string {
  if (/^[a-zA-Z0-9_.:-]{1,64}$/.test(id)) return id
  return id.replace(/[^a-zA-Z0-9_.:-]/g, '_').slice(0, 64)
}

function translateTools(raw: unknown): Block[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw new Refused('tools must be an array', 'tools')
  return raw.map((tool, i) => {
    const at = `tools[${i}]`
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) throw new Refused(`${at} must be {type: "function", function: {...}}`, at)
    const fn = tool.function
    if (typeof fn.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name)) {
      throw new Refused(`${at}.function.name must be 1–64 letters, digits, _ or -`, `${at}.function.name`)
    }
    if (fn.parameters !== undefined && !isObject(fn.parameters)) throw new Refused(`${at}.function.parameters must be a JSON Schema object`, `${at}.function.parameters`)
    const spec: Block = { name: fn.name, inputSchema: { json: fn.parameters ?? { type: 'object', properties: {} } } }
    if (typeof fn.description === 'string' && fn.description) spec.description = fn.description
    return { toolSpec: spec }
  })
}

function translateToolChoice(raw: unknown, tools: Block[]): Block | 'none' | undefined {
  if (raw === undefined || raw === null || raw === 'auto') return raw === 'auto' && tools.length ? { auto: {} } : undefined
  if (raw === 'none') return 'none'
  if (tools.length === 0) throw new Refused('tool_choice needs tools', 'tool_choice')
  if (raw === 'required') return { any: {} }
  if (isObject(raw) && raw.type === 'function' && isObject(raw.function) && typeof raw.function.name === 'string') {
    const name = raw.function.name
    if (!tools.some((t) => (t.toolSpec as Block).name === name)) throw new Refused(`tool_choice names ${JSON.stringify(name)}, which is not in tools`, 'tool_choice')
    return { tool: { name } }
  }
  throw new Refused('tool_choice must be "auto", "none", "required" or {type: "function", function: {name}}', 'tool_choice')
}

function usesTools(messages: Message[]): boolean {
  return messages.some((m) => m.content.some((b) => b.toolUse !== undefined || b.toolResult !== undefined))
}

/**
 * `response_format` as one forced tool (its input schema is the requested schema): Converse has no JSON mode that
 * every model honours, but forced tool use is validated against the schema by the model's tool training. Models
 * without forced tool use cannot honour it.
 */
function translateResponseFormat(raw: unknown, hasTools: boolean, modelId: string): { name: string; tool: Block } | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!isObject(raw)) throw new Refused('response_format must be an object', 'response_format')
  if (raw.type === 'text') return undefined
  if (raw.type !== 'json_object' && raw.type !== 'json_schema') throw new Refused('response_format.type must be text, json_object or json_schema', 'response_format.type')
  if (hasTools) throw new Refused('response_format together with tools is not supported: the JSON answer is produced through a forced tool call', 'response_format')
  if (!forcesTools(modelId)) {
    throw new Refused(`response_format is not supported for ${modelId}: it needs a model with forced tool use on Bedrock (Claude, Nova, Mistral Large)`, 'response_format')
  }
  if (raw.type === 'json_object') {
    return { name: JSON_TOOL, tool: { toolSpec: { name: JSON_TOOL, description: 'Respond with a JSON object.', inputSchema: { json: { type: 'object' } } } } }
  }
  const spec = raw.json_schema
  if (!isObject(spec) || !isObject(spec.schema)) throw new Refused('response_format.json_schema.schema must be a JSON Schema object', 'response_format.json_schema')
  if (spec.schema.type !== undefined && spec.schema.type !== 'object') {
    throw new Refused('response_format.json_schema.schema must describe an object (type: "object")', 'response_format.json_schema.schema')
  }
  const name = typeof spec.name === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(spec.name) ? spec.name : JSON_TOOL
  const description = typeof spec.description === 'string' && spec.description ? spec.description : 'Respond with JSON matching this schema.'
  return { name, tool: { toolSpec: { name, description, inputSchema: { json: spec.schema } } } }
}

/** Families whose Bedrock models accept `toolChoice: {tool}`. */
function forcesTools(modelId: string): boolean {
  return /(^|[./])(anthropic\.claude|amazon\.nova|mistral\.mistral-large)/.test(modelId)
}

function translateReasoning(raw: unknown, modelId: string, inference: Record<string, unknown>): Block | undefined {
  if (raw === undefined || raw === null || raw === 'none' || raw === 'minimal') return undefined
  if (raw !== 'low' && raw !== 'medium' && raw !== 'high') throw new Refused('reasoning_effort must be none, minimal, low, medium or high', 'reasoning_effort')
  const style = reasoningStyleOf(modelId)
  if (style === 'nova-reasoning') return { reasoningConfig: { type: 'enabled', maxReasoningEffort: raw } }
  if (style !== 'anthropic-thinking') throw new Refused(`reasoning_effort is not supported for ${modelId}: the model does not think`, 'reasoning_effort')
  const budget = THINKING_BUDGET[raw]
  const maxTokens = inference.maxTokens as number | undefined
  if (maxTokens !== undefined && maxTokens <= budget) {
    throw new Refused(`max_tokens must be larger than the thinking budget for reasoning_effort ${raw} (${budget} tokens)`, 'max_tokens')
  }
  if (inference.temperature !== undefined && inference.temperature !== 1) throw new Refused('temperature cannot be set with reasoning_effort on Claude (thinking requires temperature 1)', 'temperature')
  if (inference.topP !== undefined) throw new Refused('top_p cannot be set with reasoning_effort on Claude', 'top_p')
  return { thinking: { type: 'enabled', budget_tokens: budget } }
}

function translateMetadata(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined
  if (!isObject(raw)) throw new Refused('metadata must be an object of strings', 'metadata')
  const entries = Object.entries(raw)
  if (entries.length > 16) throw new Refused('metadata may have at most 16 keys', 'metadata')
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || k.length > 64 || v.length > 512) throw new Refused('metadata keys (≤ 64 characters) must map to strings (≤ 512 characters)', `metadata.${k}`)
  }
  return entries.length ? (raw as Record<string, string>) : undefined
}
