/**
 * Renders the engine's outcome as Bedrock answers: a Converse body verbatim; a ConverseStream as the binary
 * event stream (upstream frames byte-identical, what AWS SDKs read) or as SSE for browsers; errors in Bedrock's
 * shape (`x-amzn-errortype`, `{"message"}`), upstream's own error answer relayed as it came.
 */
import type { StreamRenderer } from '../../engine/converse-stream'
import { retryAfterOf, withTrace, type Outcome } from '../../engine/outcome'
import { encodeExceptionFrame } from '../../wire/eventstream'
import { jsonObject } from '../../wire/base64'
import { SSE_CONTENT_TYPE, sseAccounting, sseError, sseFromFrame, sseFromInvokeChunk } from '../../wire/sse'
import { bedrockError } from './errors'

export type StreamFormat = 'eventstream' | 'sse'

export function renderBedrock(outcome: Outcome, format: StreamFormat): Response {
  return withTrace(outcome, responseFor(outcome, format))
}

function responseFor(outcome: Outcome, format: StreamFormat): Response {
  switch (outcome.kind) {
    case 'served': {
      const headers: Record<string, string> = { 'content-type': outcome.contentType ?? 'application/json', ...outcome.bedrockHeaders }
      if (outcome.requestId) headers['x-amzn-requestid'] = outcome.requestId
      return new Response(outcome.body, { status: 200, headers })
    }
    case 'streaming': {
      const headers: Record<string, string> =
        format === 'sse'
          ? { 'content-type': SSE_CONTENT_TYPE, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' }
          : { 'content-type': 'application/vnd.amazon.eventstream' }
      if (outcome.requestId) headers['x-amzn-requestid'] = outcome.requestId
      return new Response(outcome.events.render(format === 'sse' ? SSE : EVENT_STREAM), { status: 200, headers })
    }
    case 'rejected':
      return bedrockError(outcome.status, outcome.errorType, outcome.message, retryAfterOf(outcome))
    case 'failed': {
      const { relay, result } = outcome
      if (!relay) return bedrockError(result.status, result.errorType ?? 'InternalServerException', result.message ?? 'upstream failed')
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-errortype': relay.errorType }
      if (relay.requestId) headers['x-amzn-requestid'] = relay.requestId
      return new Response(isJsonObject(relay.body) ? relay.body : JSON.stringify({ message: result.message ?? '' }), { status: relay.status, headers })
    }
    case 'cancelled':
      return bedrockError(499, 'RequestCancelled', 'The client closed the request.')
  }
}

/** The binary event stream: upstream's frames as they came; the router's own failures as exception frames. */
const EVENT_STREAM: StreamRenderer = {
  event: (frame) => frame.bytes,
  error: (f) => (f.frame ? f.frame.bytes : encodeExceptionFrame(f.exception, f.message)),
}

/**
 * SSE for browsers: one event per frame, `event: error` at a failure. InvokeModel streams' `chunk` events are
 * decoded: the model's own event, named by its `type` (Anthropic's message_start … message_stop).
 */
const SSE: StreamRenderer = {
  event: (frame) => sseFromInvokeChunk(frame, 'chunk') ?? sseFromFrame(frame),
  error: (f) => (f.frame ? sseFromFrame(f.frame) : sseError(f.exception, f.message)),
  trailer: sseAccounting,
}

/** Upstream's error body is relayed only when it is what it is labelled (a proxy's HTML page is not). */
const isJsonObject = (text: string) => jsonObject(text) !== undefined
