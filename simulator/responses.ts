/**
 * What the simulated model answers: deterministic text naming region and model, optional tool use, usage. Shared
 * by every API (Converse, and InvokeModel's native bodies once turned into a ConverseBody), so the same question
 * gets the same answer and the same token counts whichever API asked it.
 */
import { DEFAULT_BLOCKED_MESSAGE, DEFAULT_BLOCKED_WORDS } from './guardrail'
import { textToBase64 } from './base64'
import { chooseTool, countInputTokens, inputChars, type ConverseBody } from './converse-request'
import { parsePromptRouter, routeModel } from './prompt-router'

export type StopReason = 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence' | 'guardrail_intervened'

export interface ToolUse {
  toolUseId: string
  name: string
  input: unknown
}

export interface Thinking {
  text: string
  signature: string
}

export interface AnswerPlan {
  text: string
  toolUse?: ToolUse
  /** Extended thinking (Anthropic `thinking`), before the text; its tokens are part of `outputTokens`. */
  thinking?: Thinking
  stopReason: StopReason
  /** The stop sequence that ended the text, when `stopReason` is `stop_sequence`. */
  stopSequence?: string
  inputTokens: number
  outputTokens: number
  /** Set when modelId is a prompt-router ARN. */
  invokedModelId?: string
  /** The simulator-wide sequence number of this answer (unique IDs). */
  seq: number
}

const FILLER =
  ' Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.'

export const tokensForChars = (chars: number): number => Math.ceil(chars / 4)

export function greeting(region: string, modelId: string, tool?: string): string {
  return tool ? `Calling ${tool} from ${region} (model ${modelId}).` : `Hello from ${region} (model ${modelId}).`
}

export function thinkingText(region: string, modelId: string): string {
  return `Thinking about the answer in ${region} (model ${modelId}).`
}

function padTo(text: string, chars: number | undefined): string {
  if (!chars || chars <= text.length) return text
  let out = text
  while (out.length < chars) out += FILLER
  return out.slice(0, chars)
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A small value that satisfies a JSON Schema well enough for a demo (`{}` when there are no properties). */
export function sampleFromSchema(schema: unknown, depth = 0): unknown {
  if (!isObject(schema) || depth > 4) return {}
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  switch (schema.type) {
    case 'string':
      return 'example'
    case 'number':
    case 'integer':
      return 7
    case 'boolean':
      return true
    case 'array':
      return []
    case 'null':
      return null
  }
  const props = isObject(schema.properties) ? schema.properties : {}
  const required = Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : Object.keys(props)
  const out: Record<string, unknown> = {}
  for (const key of required) out[key] = sampleFromSchema(props[key], depth + 1)
  return out
}

export interface PlanArgs {
  body: ConverseBody
  modelId: string
  region: string
  responseChars?: number
  /** Makes tool-use IDs unique per simulator. */
  seq: number
  /** The text stops before the first of these it contains (stopReason `stop_sequence`, no tool use). */
  stopSequences?: string[]
  /** Think first (a thinking block that counts against maxTokens). */
  thinking?: boolean
}

/** The earliest stop sequence in `text`, if any. */
function firstStop(text: string, stops: string[] | undefined): { at: number; sequence: string } | undefined {
  let best: { at: number; sequence: string } | undefined
  for (const sequence of stops ?? []) {
    const at = sequence ? text.indexOf(sequence) : -1
    if (at >= 0 && (!best || at < best.at)) best = { at, sequence }
  }
  return best
}

export function planAnswer({ body, modelId, region, responseChars, seq, stopSequences, thinking: think }: PlanArgs): AnswerPlan {
  const inputTokens = countInputTokens(body)
  const router = parsePromptRouter(modelId)
  const invokedModelId = router ? routeModel(router, region, inputChars(body)) : undefined
  const tool = chooseTool(body)
  let text = padTo(greeting(region, modelId, tool?.name), responseChars)
  let toolUse: ToolUse | undefined = tool
    ? { toolUseId: `tooluse_sim${String(seq).padStart(12, '0')}`, name: tool.name, input: sampleFromSchema(tool.inputSchema?.json) }
    : undefined
  let stopReason: StopReason = toolUse ? 'tool_use' : 'end_turn'
  let stopSequence: string | undefined
  const stop = firstStop(text, stopSequences)
  if (stop) {
    text = text.slice(0, stop.at)
    toolUse = undefined
    stopReason = 'stop_sequence'
    stopSequence = stop.sequence
  }
  // Thinking comes first and spends the maxTokens budget before the text does (as Anthropic's max_tokens does).
  let maxTokens = body.inferenceConfig?.maxTokens
  let thinking: Thinking | undefined
  if (think) {
    let thought = thinkingText(region, modelId)
    if (maxTokens !== undefined && tokensForChars(thought.length) > maxTokens) thought = thought.slice(0, maxTokens * 4)
    thinking = { text: thought, signature: textToBase64(`simulated-thinking-signature:${seq}:${thought.length}`) }
    if (maxTokens !== undefined) maxTokens -= tokensForChars(thought.length)
  }
  const thinkingTokens = thinking ? tokensForChars(thinking.text.length) : 0
  const toolTokens = toolUse ? tokensForChars(toolUse.name.length + JSON.stringify(toolUse.input).length) : 0
  if (maxTokens !== undefined && tokensForChars(text.length) + toolTokens > maxTokens) {
    text = text.slice(0, maxTokens * 4)
    toolUse = undefined
    stopReason = 'max_tokens'
    stopSequence = undefined
  }
  // A grading request (a judge: see gradedAnswer) is answered with a score, whatever the graded task says.
  const graded = gradedAnswer(body)
  if (graded !== undefined) {
    text = VAGUE.test(graded.trim()) || graded.trim() === '' ? '0.2' : '0.9'
    toolUse = undefined
    stopReason = 'end_turn'
    stopSequence = undefined
  }
  // A task marked `[hard]` is beyond a small model (model IDs with micro, lite or haiku): it runs out of room and
  // answers truncated (stopReason max_tokens), as a weak model does on a hard task. For cascade routing's tests and
  // its savings benchmark: a known share of hard prompts fails on the small tier.
  else if (HARD.test(userText(body)) && SMALL_MODEL.test(modelId)) {
    text = text.slice(0, Math.max(1, Math.floor(text.length / 3)))
    toolUse = undefined
    stopReason = 'max_tokens'
    stopSequence = undefined
  }
  // A task marked `[subtle]` gets a complete but vague answer from a small model (end_turn, nothing structural to
  // catch): only a judge that reads the answer can tell, as with a weak model that answers confidently but says nothing.
  else if (SUBTLE.test(userText(body)) && SMALL_MODEL.test(modelId)) {
    text = VAGUE_ANSWER
    toolUse = undefined
    stopReason = 'end_turn'
    stopSequence = undefined
  }
  // A guardrail attached to the request (guardrailConfig) stops a prompt holding one of its blocked words, as
  // ApplyGuardrail would (guardrail.ts): the blocked message instead of the answer.
  if (guardrailBlocks(body)) {
    text = DEFAULT_BLOCKED_MESSAGE
    toolUse = undefined
    thinking = undefined
    stopReason = 'guardrail_intervened'
    stopSequence = undefined
  }
  const outputTokens = Math.max(1, (thinking ? thinkingTokens : 0) + tokensForChars(text.length) + (toolUse ? toolTokens : 0))
  return { text, toolUse, thinking, stopReason, stopSequence, inputTokens, outputTokens, invokedModelId, seq }
}

export function usageOf(inputTokens: number, outputTokens: number) {
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
}

/**
 * Converse `usage`: with a prompt-cache split, `inputTokens` is the uncached input and the cache reads and writes
 * have fields of their own (all four in `totalTokens`), as Bedrock reports them; otherwise the plain three.
 */
export function converseUsage(plan: AnswerPlan, usage?: TokenUsage) {
  if (!usage || (usage.cacheRead === 0 && usage.cacheWrite === 0)) return usageOf(plan.inputTokens, plan.outputTokens)
  return {
    inputTokens: usage.input,
    outputTokens: plan.outputTokens,
    totalTokens: usage.input + plan.outputTokens + usage.cacheRead + usage.cacheWrite,
    cacheReadInputTokens: usage.cacheRead,
    cacheWriteInputTokens: usage.cacheWrite,
  }
}

export function traceOf(plan: AnswerPlan) {
  return plan.invokedModelId ? { trace: { promptRouter: { invokedModelId: plan.invokedModelId } } } : {}
}

/** The ConverseResponse JSON. */
export function converseResponseBody(plan: AnswerPlan, latencyMs: number, usage?: TokenUsage) {
  const content: unknown[] = []
  if (plan.text) content.push({ text: plan.text })
  if (plan.toolUse) content.push({ toolUse: plan.toolUse })
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: plan.stopReason,
    usage: converseUsage(plan, usage),
    metrics: { latencyMs },
    ...traceOf(plan),
  }
}

/** Splits answer text into stream deltas of two words each (leading spaces kept). */
export function textChunks(text: string): string[] {
  const words = text.match(/\s*\S+/g) ?? (text ? [text] : [])
  const chunks: string[] = []
  for (let i = 0; i < words.length; i += 2) chunks.push(words.slice(i, i + 2).join(''))
  const trailing = text.length - chunks.join('').length
  if (trailing > 0) chunks.push(text.slice(text.length - trailing))
  return chunks
}

/** Tokens of one answer, with the prompt-cache split of its input (InvokeModel + Anthropic `cache_control`). */
export interface TokenUsage {
  /** Input not read from or written to the cache (Anthropic `input_tokens`, `x-amzn-bedrock-input-token-count`). */
  input: number
  output: number
  cacheRead: number
  cacheWrite: number
  cacheWrite5m: number
  cacheWrite1h: number
}

export function tokenUsage(plan: AnswerPlan, cache?: { read: number; write: number; write5m: number; write1h: number }): TokenUsage {
  const read = cache?.read ?? 0
  const write = cache?.write ?? 0
  return {
    input: Math.max(0, plan.inputTokens - read - write),
    output: plan.outputTokens,
    cacheRead: read,
    cacheWrite: write,
    cacheWrite5m: cache?.write5m ?? 0,
    cacheWrite1h: cache?.write1h ?? 0,
  }
}

/** Whether a Converse request's own guardrail (guardrailConfig) blocks its user text. */
function guardrailBlocks(body: PlanArgs['body']): boolean {
  const config = (body as { guardrailConfig?: { guardrailIdentifier?: unknown } }).guardrailConfig
  if (!config || typeof config.guardrailIdentifier !== 'string') return false
  const words = DEFAULT_BLOCKED_WORDS.map((w) => new RegExp(`\\b${w}\\b`, 'i'))
  return body.messages.some((m) => m.role === 'user' && m.content.some((b) => typeof b.text === 'string' && words.some((re) => re.test(b.text as string))))
}

const HARD = /\[hard\]/i
const SUBTLE = /\[subtle\]/i
export const VAGUE_ANSWER = 'It depends on several factors; more context would help.'
const VAGUE = /^It depends\b/i

/**
 * A grading request — a judge asked to score an answer: a system prompt that mentions a score, and a last user message
 * holding the answer between `<answer>` and `</answer>`. Returns the graded answer, or undefined. The simulator grades
 * as a rubric would: a vague answer (VAGUE_ANSWER's kind) or an empty one scores 0.2, anything else 0.9.
 */
function gradedAnswer(body: PlanArgs['body']): string | undefined {
  const system = (body.system ?? []).map((b) => (typeof b.text === 'string' ? b.text : '')).join('\n')
  if (!/\bscore\b/i.test(system)) return undefined
  const last = body.messages[body.messages.length - 1]
  if (last?.role !== 'user') return undefined
  const text = last.content.map((b) => (typeof b.text === 'string' ? b.text : '')).join('\n')
  const m = /<answer>([\s\S]*?)<\/answer>/.exec(text)
  return m ? m[1] : undefined
}
const SMALL_MODEL = /micro|lite|haiku/i

function userText(body: PlanArgs['body']): string {
  return body.messages
    .filter((m) => m.role === 'user')
    .flatMap((m) => m.content.map((b) => (typeof b.text === 'string' ? b.text : '')))
    .join('\n')
}
