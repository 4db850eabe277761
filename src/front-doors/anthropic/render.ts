/**
 * Renders the engine's outcome as the Anthropic API answers: the Messages response (Bedrock's Claude answer is
 * already one), the stream as Anthropic SSE (`event: message_start` … `message_stop`: each InvokeModel chunk holds
 * one of these events, passed on as it came), errors in Anthropic's shape with Retry-After where it applies.
 */
import type { StreamRenderer } from '../../engine/converse-stream'
import { retryAfterOf, retryAfterSeconds, withTrace, type Outcome } from '../../engine/outcome'
import { SSE_CONTENT_TYPE, sseAccounting, sseFromInvokeChunk } from '../../wire/sse'
import { anthropicError, errorJson } from './errors'
import { anthropicStreamRenderer, messageFromConverse } from './from-converse'

const encoder = new TextEncoder()

export interface RenderOptions {
  /** `converse`: the answer is a Converse one (a pool without Claude), translated; default: Claude's own (InvokeModel). */
  via?: 'invoke' | 'converse'
  /** Rewrites a served body (count_tokens: Bedrock's `inputTokens` → `input_tokens`). */
  transform?: (body: string) => string
}

export function renderAnthropic(outcome: Outcome, options: RenderOptions = {}): Response {
  return withTrace(outcome, responseFor(outcome, options))
}

function responseFor(outcome: Outcome, { via = 'invoke', transform }: RenderOptions): Response {
  switch (outcome.kind) {
    case 'served': {
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (outcome.requestId) headers['request-id'] = outcome.requestId
      let body = outcome.body
      if (via === 'converse') {
        try {
          body = JSON.stringify(messageFromConverse(JSON.parse(body), messageContext(outcome)))
        } catch {
          return anthropicError(502, 'The upstream answer could not be read.')
        }
      }
      return new Response(transform ? transform(body) : body, { status: 200, headers })
    }
    case 'streaming': {
      const headers: Record<string, string> = { 'content-type': SSE_CONTENT_TYPE, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }
      if (outcome.requestId) headers['request-id'] = outcome.requestId
      const renderer = via === 'converse' ? anthropicStreamRenderer(messageContext(outcome)) : ANTHROPIC_SSE
      return new Response(outcome.events.render(renderer), { status: 200, headers })
    }
    case 'rejected':
      return anthropicError(outcome.status, outcome.message, retryAfterOf(outcome))
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

function messageContext(outcome: Extract<Outcome, { kind: 'served' | 'streaming' }>) {
  const model = (outcome.kind === 'served' ? outcome.invokedModelId : undefined) ?? outcome.trace.servedModel ?? ''
  return { id: `msg_${(outcome.requestId ?? crypto.randomUUID()).replace(/-/g, '')}`, model }
}

/** Each InvokeModel chunk's event, as `event: <type>` + `data: <the event's JSON, as Bedrock sent it>`. */
const ANTHROPIC_SSE: StreamRenderer = {
  event: (frame) => sseFromInvokeChunk(frame),
  error: (f) => encoder.encode(`event: error\ndata: ${errorJson(f.status, f.message)}\n\n`),
  trailer: sseAccounting,
}
