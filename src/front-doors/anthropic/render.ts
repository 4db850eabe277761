/**
 * Renders the engine's outcome as the Anthropic API answers: the Messages response (Bedrock's Claude answer is
 * already one), the stream as Anthropic SSE (`event: message_start` … `message_stop`: each InvokeModel chunk holds
 * one of these events, passed on as it came), errors in Anthropic's shape with Retry-After where it applies.
 */
import type { StreamRenderer } from '../../engine/converse-stream'
import { retryAfterSeconds, withTrace, type Outcome } from '../../engine/outcome'
import type { Frame } from '../../wire/eventstream'
import { invokeChunkText } from '../../wire/invoke-chunk'
import { SSE_CONTENT_TYPE } from '../../wire/sse'
import { anthropicError, errorJson } from './errors'

const encoder = new TextEncoder()

export function renderAnthropic(outcome: Outcome, transform?: (body: string) => string): Response {
  return withTrace(outcome, responseFor(outcome, transform))
}

function responseFor(outcome: Outcome, transform?: (body: string) => string): Response {
  switch (outcome.kind) {
    case 'served': {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (outcome.requestId) headers['request-id'] = outcome.requestId
      return new Response(transform ? transform(outcome.body) : outcome.body, { status: 200, headers })
    }
    case 'streaming': {
      const headers: Record<string, string> = { 'content-type': SSE_CONTENT_TYPE, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }
      if (outcome.requestId) headers['request-id'] = outcome.requestId
      return new Response(outcome.events.render(ANTHROPIC_SSE), { status: 200, headers })
    }
    case 'rejected':
      return anthropicError(outcome.status, outcome.message, { 'retry-after': retryAfterSeconds(outcome.retryAfterMs) })
    case 'failed': {
      const { result, relay } = outcome
      const headers: Record<string, string> = {}
      if (result.retryAfterMs !== undefined) headers['retry-after'] = retryAfterSeconds(result.retryAfterMs)
      return anthropicError(relay?.status ?? result.status, result.message ?? 'The upstream model refused the request.', headers)
    }
    case 'cancelled':
      return anthropicError(499, 'The client closed the request.')
  }
}

/** Each InvokeModel chunk's event, as `event: <type>` + `data: <the event's JSON, as Bedrock sent it>`. */
const ANTHROPIC_SSE: StreamRenderer = {
  event(frame: Frame) {
    if (frame.eventType !== 'chunk') return undefined
    const text = invokeChunkText(frame)
    if (text === undefined) return undefined
    const type = /^\s*\{\s*"type"\s*:\s*"([A-Za-z0-9_]+)"/.exec(text)?.[1] ?? typeOf(text)
    if (!type) return undefined
    return encoder.encode(`event: ${type}\ndata: ${text.replace(/\r?\n/g, '')}\n\n`)
  },
  error: (f) => encoder.encode(`event: error\ndata: ${errorJson(f.status, f.message)}\n\n`),
}

function typeOf(text: string): string | undefined {
  try {
    const t = JSON.parse(text)?.type
    return typeof t === 'string' && /^[A-Za-z0-9_]+$/.test(t) ? t : undefined
  } catch {
    return undefined
  }
}
