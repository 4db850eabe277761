/**
 * Stream frames as Bedrock sends them: headers `:event-type`, `:content-type`, `:message-type` (strings), bare
 * payload JSON with sorted keys and a `p` padding field (random-length prefix of a-zA-Z0-9, 2–60 chars).
 * ConverseStream frames carry the event itself; InvokeModelWithResponseStream frames are all `chunk` events whose
 * payload is `{"bytes": "<base64 of the model's own event JSON>", "p": …}` (padding as in Bedrock captures, e.g.
 * envoyproxy/ai-gateway's recorded Claude stream).
 */
import { EventStreamCodec } from '@smithy/eventstream-codec'
import { textToBase64 } from './base64'
import { converseUsage, tokensForChars, textChunks, traceOf, type AnswerPlan, type TokenUsage } from './responses'

export const codec = new EventStreamCodec(
  (b) => new TextDecoder().decode(b),
  (s) => new TextEncoder().encode(s),
)

const PAD_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

export function padding(random: () => number = Math.random): string {
  return PAD_ALPHABET.slice(0, 2 + Math.floor(random() * 59))
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys)
  if (typeof v !== 'object' || v === null) return v
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k])
  return out
}

const str = (value: string) => ({ type: 'string' as const, value })

export function encodeEvent(eventType: string, payload: Record<string, unknown>): Uint8Array {
  const body = JSON.stringify(sortKeys({ ...payload, p: padding() }))
  return codec.encode({
    headers: { ':event-type': str(eventType), ':content-type': str('application/json'), ':message-type': str('event') },
    body: new TextEncoder().encode(body),
  })
}

/** One InvokeModelWithResponseStream `chunk` frame carrying `event` (the model's native event JSON). */
export function encodeChunk(event: unknown): Uint8Array {
  return encodeEvent('chunk', { bytes: textToBase64(JSON.stringify(event)) })
}

export function encodeException(exceptionType: string, message: string): Uint8Array {
  return codec.encode({
    headers: { ':exception-type': str(exceptionType), ':content-type': str('application/json'), ':message-type': str('exception') },
    body: new TextEncoder().encode(JSON.stringify({ message })),
  })
}

export interface StreamEvent {
  type: string
  /** Built when the frame is sent (metadata needs the final latency). */
  payload: () => Record<string, unknown>
  /** Output tokens produced once this event has been sent (for quota settlement of cut streams). */
  producedTokens: number
}

/** messageStart, text deltas (no contentBlockStart for text), stop, optional toolUse block, messageStop, metadata. */
export function planEvents(plan: AnswerPlan, latencyMs: () => number, usage?: TokenUsage): StreamEvent[] {
  const events: StreamEvent[] = [{ type: 'messageStart', payload: () => ({ role: 'assistant' }), producedTokens: 0 }]
  let index = 0
  if (plan.text) {
    let sent = 0
    for (const text of textChunks(plan.text)) {
      sent += text.length
      events.push({ type: 'contentBlockDelta', payload: () => ({ contentBlockIndex: 0, delta: { text } }), producedTokens: tokensForChars(sent) })
    }
    const produced = tokensForChars(plan.text.length)
    events.push({ type: 'contentBlockStop', payload: () => ({ contentBlockIndex: 0 }), producedTokens: produced })
    index = 1
  }
  if (plan.toolUse) {
    const { toolUseId, name, input } = plan.toolUse
    const i = index
    const json = JSON.stringify(input)
    const half = Math.ceil(json.length / 2)
    const before = tokensForChars(plan.text.length)
    events.push({ type: 'contentBlockStart', payload: () => ({ contentBlockIndex: i, start: { toolUse: { name, toolUseId } } }), producedTokens: before })
    for (const part of ['', ...[json.slice(0, half), json.slice(half)].filter(Boolean)]) {
      events.push({ type: 'contentBlockDelta', payload: () => ({ contentBlockIndex: i, delta: { toolUse: { input: part } } }), producedTokens: before })
    }
    events.push({ type: 'contentBlockStop', payload: () => ({ contentBlockIndex: i }), producedTokens: plan.outputTokens })
  }
  events.push({ type: 'messageStop', payload: () => ({ stopReason: plan.stopReason }), producedTokens: plan.outputTokens })
  events.push({
    type: 'metadata',
    payload: () => ({ metrics: { latencyMs: latencyMs() }, usage: converseUsage(plan, usage), ...traceOf(plan) }),
    producedTokens: plan.outputTokens,
  })
  return events
}
