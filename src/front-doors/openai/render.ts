/**
 * Renders the engine's outcome as the OpenAI chat API answers: a `chat.completion`, a stream of
 * `chat.completion.chunk` events, or an error in OpenAI's shape with a matching status and Retry-After.
 */
import { retryAfterOf, retryAfterSeconds, withTrace, type Outcome } from '../../engine/outcome'
import { SSE_CONTENT_TYPE } from '../../wire/sse'
import { chunkRenderer } from './chunks'
import { openAiError } from './errors'
import { chatCompletion } from './from-converse'
import type { Translated } from './to-converse'

export function renderOpenAi(outcome: Outcome, request: Translated): Response {
  return withTrace(outcome, responseFor(outcome, request))
}

function responseFor(outcome: Outcome, request: Translated): Response {
  switch (outcome.kind) {
    case 'served': {
      let converse: Record<string, unknown>
      try {
        converse = JSON.parse(outcome.body)
      } catch {
        return openAiError(502, 'The upstream answer could not be read.')
      }
      const ctx = { id: completionId(outcome.requestId), created: now(), model: outcome.invokedModelId ?? outcome.trace.servedModel ?? '', jsonTool: request.jsonTool }
      return new Response(JSON.stringify(chatCompletion(converse, ctx)), { status: 200, headers: { 'content-type': 'application/json' } })
    }
    case 'streaming': {
      const renderer = chunkRenderer({ id: completionId(outcome.requestId), created: now(), model: outcome.trace.servedModel ?? '', jsonTool: request.jsonTool, includeUsage: request.includeUsage })
      return new Response(outcome.events.render(renderer), {
        status: 200,
        headers: { 'content-type': SSE_CONTENT_TYPE, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' },
      })
    }
    case 'rejected': {
      const code = outcome.cause === 'rule' ? 'rejected_by_rule' : outcome.status === 429 ? 'rate_limit_exceeded' : 'no_models_available'
      return openAiError(outcome.status, outcome.message, { code, headers: retryAfterOf(outcome) })
    }
    case 'failed': {
      const { result, relay } = outcome
      const headers: Record<string, string> = {}
      if (result.retryAfterMs !== undefined) headers['retry-after'] = retryAfterSeconds(result.retryAfterMs)
      return openAiError(relay?.status ?? result.status, result.message ?? 'The upstream model refused the request.', { code: relay?.errorType ?? result.errorType ?? null, headers })
    }
    case 'cancelled':
      return openAiError(499, 'The client closed the request.', { code: 'request_cancelled' })
  }
}

function completionId(requestId: string | undefined): string {
  return `chatcmpl-${requestId ?? crypto.randomUUID()}`
}

const now = () => Math.floor(Date.now() / 1000)
