/**
 * A Converse answer as an Anthropic Messages response, and a Converse event stream as Anthropic SSE — for pools
 * served through Converse (to-converse.ts).
 *
 *   messageStart                     → message_start (usage arrives later: Converse reports it at the end)
 *   first text / reasoning delta     → content_block_start (Converse sends no start for those blocks), then deltas
 *   contentBlockStart toolUse        → content_block_start tool_use; input deltas → input_json_delta
 *   contentBlockStop                 → content_block_stop
 *   messageStop + metadata           → message_delta (stop_reason, usage), message_stop
 */
import type { StreamFailure, StreamRenderer } from '../../engine/converse-stream'
import type { Frame } from '../../wire/eventstream'
import { frameJson } from '../../wire/invoke-chunk'
import { sseAccounting } from '../../wire/sse'
import { errorJson } from './errors'

export interface MessageContext {
  /** `msg_…` */
  id: string
  /** The model that served. */
  model: string
}

const STOP: Record<string, string> = {
  end_turn: 'end_turn',
  stop_sequence: 'stop_sequence',
  max_tokens: 'max_tokens',
  tool_use: 'tool_use',
  model_context_window_exceeded: 'model_context_window_exceeded',
  content_filtered: 'refusal',
  guardrail_intervened: 'refusal',
}

export const stopReason = (converse: unknown) => STOP[String(converse)] ?? 'end_turn'

export function usageFrom(raw: unknown): Record<string, number> {
  const u = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
  return {
    input_tokens: num(u.inputTokens),
    output_tokens: num(u.outputTokens),
    cache_creation_input_tokens: num(u.cacheWriteInputTokens),
    cache_read_input_tokens: num(u.cacheReadInputTokens),
  }
}

function blockFrom(b: Record<string, any>): Record<string, unknown> | undefined {
  if (typeof b.text === 'string') return { type: 'text', text: b.text }
  if (b.toolUse) return { type: 'tool_use', id: b.toolUse.toolUseId, name: b.toolUse.name, input: b.toolUse.input ?? {} }
  const reasoning = b.reasoningContent
  if (reasoning?.reasoningText) return { type: 'thinking', thinking: reasoning.reasoningText.text ?? '', signature: reasoning.reasoningText.signature ?? '' }
  if (typeof reasoning?.redactedContent === 'string') return { type: 'redacted_thinking', data: reasoning.redactedContent }
  return undefined
}

export function messageFromConverse(converse: Record<string, any>, ctx: MessageContext): Record<string, unknown> {
  const blocks: Array<Record<string, any>> = Array.isArray(converse.output?.message?.content) ? converse.output.message.content : []
  return {
    id: ctx.id,
    type: 'message',
    role: 'assistant',
    model: ctx.model,
    content: blocks.map(blockFrom).filter((b) => b !== undefined),
    stop_reason: stopReason(converse.stopReason),
    stop_sequence: null,
    usage: usageFrom(converse.usage),
  }
}

const encoder = new TextEncoder()
const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`

export function anthropicStreamRenderer(ctx: MessageContext): StreamRenderer {
  const started = new Set<number>()
  let stop = 'end_turn'
  const start = (index: number, block: Record<string, unknown>) => {
    started.add(index)
    return sse('content_block_start', { index, content_block: block })
  }
  return {
    event(frame: Frame) {
      const e = frameJson(frame)
      if (!e) return undefined
      let out = ''
      switch (frame.eventType) {
        case 'messageStart':
          out = sse('message_start', { message: { id: ctx.id, type: 'message', role: 'assistant', model: ctx.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } } })
          break
        case 'contentBlockStart': {
          const tool = e.start?.toolUse
          if (tool) out = start(e.contentBlockIndex, { type: 'tool_use', id: tool.toolUseId, name: tool.name, input: {} })
          break
        }
        case 'contentBlockDelta': {
          const index = e.contentBlockIndex
          const d = e.delta ?? {}
          if (typeof d.text === 'string') {
            if (!started.has(index)) out += start(index, { type: 'text', text: '' })
            out += sse('content_block_delta', { index, delta: { type: 'text_delta', text: d.text } })
          } else if (typeof d.toolUse?.input === 'string') {
            out += sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: d.toolUse.input } })
          } else if (d.reasoningContent) {
            if (!started.has(index)) out += start(index, { type: 'thinking', thinking: '' })
            if (typeof d.reasoningContent.text === 'string') out += sse('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: d.reasoningContent.text } })
            if (typeof d.reasoningContent.signature === 'string') out += sse('content_block_delta', { index, delta: { type: 'signature_delta', signature: d.reasoningContent.signature } })
          }
          break
        }
        case 'contentBlockStop':
          if (started.has(e.contentBlockIndex)) out = sse('content_block_stop', { index: e.contentBlockIndex })
          break
        case 'messageStop':
          stop = stopReason(e.stopReason)
          break
        case 'metadata':
          out = sse('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: usageFrom(e.usage) }) + sse('message_stop', {})
          break
      }
      return out ? encoder.encode(out) : undefined
    },
    error: (f: StreamFailure) => encoder.encode(`event: error\ndata: ${errorJson(f.status, f.message)}\n\n`),
    trailer: sseAccounting,
  }
}

