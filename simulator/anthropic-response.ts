/**
 * Anthropic Messages answers as Bedrock returns them from InvokeModel: the message JSON, and the native stream
 * events that InvokeModelWithResponseStream wraps in `chunk` frames. Field order, `msg_bdrk_` / `toolu_bdrk_`
 * IDs, Anthropic's model name in `model`, and `amazon-bedrock-invocationMetrics` on `message_stop` follow
 * recorded Bedrock responses.
 */
import type { StreamEvent } from './eventstream'
import { textChunks, tokensForChars, type AnswerPlan, type TokenUsage } from './responses'

/** 22 characters after the `01`, like Bedrock's `msg_bdrk_01…` / `toolu_bdrk_01…` IDs, unique per answer. */
const simId = (seq: number) => `SIM${String(seq).padStart(19, '0')}`

export const messageId = (plan: AnswerPlan) => `msg_bdrk_01${simId(plan.seq)}`
export const toolUseId = (plan: AnswerPlan) => `toolu_bdrk_01${simId(plan.seq)}`

function usageBlock(u: TokenUsage, outputTokens: number) {
  return {
    input_tokens: u.input,
    cache_creation_input_tokens: u.cacheWrite,
    cache_read_input_tokens: u.cacheRead,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheWrite5m, ephemeral_1h_input_tokens: u.cacheWrite1h },
    output_tokens: outputTokens,
  }
}

/** The InvokeModel response body. */
export function anthropicMessage(plan: AnswerPlan, model: string, usage: TokenUsage) {
  const content: unknown[] = []
  if (plan.thinking) content.push({ type: 'thinking', thinking: plan.thinking.text, signature: plan.thinking.signature })
  if (plan.text) content.push({ type: 'text', text: plan.text })
  if (plan.toolUse) content.push({ type: 'tool_use', id: toolUseId(plan), name: plan.toolUse.name, input: plan.toolUse.input })
  return {
    id: messageId(plan),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: plan.stopReason,
    stop_sequence: plan.stopSequence ?? null,
    usage: usageBlock(usage, usage.output),
  }
}

/** What `message_stop` carries, built when that frame is sent. */
export interface InvocationMetrics {
  inputTokenCount: number
  outputTokenCount: number
  invocationLatency: number
  firstByteLatency: number
  cacheReadInputTokenCount?: number
  cacheWriteInputTokenCount?: number
}

/**
 * message_start, then per block content_block_start / _delta… / _stop (thinking, text, tool_use), message_delta
 * (stop_reason, output_tokens), message_stop (+ invocation metrics).
 */
export function anthropicEvents(plan: AnswerPlan, model: string, usage: TokenUsage, metrics: () => InvocationMetrics): StreamEvent[] {
  const events: StreamEvent[] = []
  const push = (type: string, payload: () => Record<string, unknown>, producedTokens: number) =>
    events.push({ type, payload: () => ({ type, ...payload() }), producedTokens })
  push(
    'message_start',
    () => ({
      message: { model, id: messageId(plan), type: 'message', role: 'assistant', content: [], stop_reason: null, stop_sequence: null, usage: usageBlock(usage, 1) },
    }),
    0,
  )
  let index = 0
  let produced = 0
  if (plan.thinking) {
    const { text, signature } = plan.thinking
    const i = index++
    push('content_block_start', () => ({ index: i, content_block: { type: 'thinking', thinking: '', signature: '' } }), produced)
    let sent = 0
    for (const thinking of textChunks(text)) {
      sent += thinking.length
      push('content_block_delta', () => ({ index: i, delta: { type: 'thinking_delta', thinking } }), tokensForChars(sent))
    }
    produced = tokensForChars(text.length)
    push('content_block_delta', () => ({ index: i, delta: { type: 'signature_delta', signature } }), produced)
    push('content_block_stop', () => ({ index: i }), produced)
  }
  if (plan.text) {
    const i = index++
    const before = produced
    push('content_block_start', () => ({ index: i, content_block: { type: 'text', text: '' } }), before)
    let sent = 0
    for (const text of textChunks(plan.text)) {
      sent += text.length
      push('content_block_delta', () => ({ index: i, delta: { type: 'text_delta', text } }), before + tokensForChars(sent))
    }
    produced = before + tokensForChars(plan.text.length)
    push('content_block_stop', () => ({ index: i }), produced)
  }
  if (plan.toolUse) {
    const { name, input } = plan.toolUse
    const i = index++
    const json = JSON.stringify(input)
    const half = Math.ceil(json.length / 2)
    push('content_block_start', () => ({ index: i, content_block: { type: 'tool_use', id: toolUseId(plan), name, input: {} } }), produced)
    for (const partial_json of ['', ...[json.slice(0, half), json.slice(half)].filter(Boolean)]) {
      push('content_block_delta', () => ({ index: i, delta: { type: 'input_json_delta', partial_json } }), produced)
    }
    push('content_block_stop', () => ({ index: i }), plan.outputTokens)
  }
  push(
    'message_delta',
    () => ({ delta: { stop_reason: plan.stopReason, stop_sequence: plan.stopSequence ?? null }, usage: { output_tokens: plan.outputTokens } }),
    plan.outputTokens,
  )
  push('message_stop', () => ({ 'amazon-bedrock-invocationMetrics': metrics() }), plan.outputTokens)
  return events
}
