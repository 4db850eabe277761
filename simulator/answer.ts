/**
 * Turns an answer plan into the HTTP response: Converse JSON, a ConverseStream event stream, an InvokeModel
 * native JSON body with its usage headers, or an InvokeModelWithResponseStream chunk stream. Both streams take the
 * stream fault rules (cut, exception, delay) the same way.
 */
import { anthropicEvents, anthropicMessage, type InvocationMetrics } from './anthropic-response'
import { STREAM_EXCEPTION_MESSAGES } from './errors'
import { encodeChunk, encodeEvent, encodeException, planEvents, type StreamEvent } from './eventstream'
import { frameStream, type StreamOutcome } from './frame-stream'
import type { NativeFormat } from './invoke-request'
import { anthropicModelName } from './model-family'
import { novaEvents, novaMessage } from './nova-response'
import { converseResponseBody, type AnswerPlan, type TokenUsage } from './responses'
import type { SimConfig, StoredRule } from './types'

export interface AnswerContext {
  plan: AnswerPlan
  /** `plan`'s tokens with the prompt-cache split (no cache: all input is uncached). */
  usage: TokenUsage
  modelId: string
  requestId: string
  config: SimConfig
  /** The stream-shaping rule picked for this request, if any (cut / exception / delay). */
  rule?: StoredRule
  startedAt: number
  /** Response headers Bedrock echoes from the request (performance config, service tier). */
  echoHeaders: Record<string, string>
  signals: ReadonlyArray<AbortSignal | undefined>
  /** Called once with the output tokens actually produced and how the answer ended. */
  onEnd(outputTokens: number, how: StreamOutcome | 'exception'): void
}

const latencySince = (start: number) => () => Math.max(1, Date.now() - start)

export function converseAnswer(ctx: AnswerContext): Response {
  const body = converseResponseBody(ctx.plan, latencySince(ctx.startedAt)(), ctx.usage)
  ctx.onEnd(ctx.plan.outputTokens, 'complete')
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-amzn-RequestId': ctx.requestId },
  })
}

export function converseStreamAnswer(ctx: AnswerContext): Response {
  const events = planEvents(ctx.plan, latencySince(ctx.startedAt), ctx.usage)
  return eventStream(ctx, events, (e) => encodeEvent(e.type, e.payload()), {})
}

/** The usage headers of InvokeModel (cache headers only when the cache was used). */
function usageHeaders(u: TokenUsage, latencyMs: number): Record<string, string> {
  const headers: Record<string, string> = {
    'X-Amzn-Bedrock-Invocation-Latency': String(latencyMs),
    'X-Amzn-Bedrock-Output-Token-Count': String(u.output),
    'X-Amzn-Bedrock-Input-Token-Count': String(u.input),
  }
  if (u.cacheRead || u.cacheWrite) {
    headers['X-Amzn-Bedrock-Cache-Read-Input-Token-Count'] = String(u.cacheRead)
    headers['X-Amzn-Bedrock-Cache-Write-Input-Token-Count'] = String(u.cacheWrite)
  }
  return headers
}

export function invokeAnswer(ctx: AnswerContext, format: NativeFormat): Response {
  const { plan, usage } = ctx
  const body = format === 'anthropic' ? anthropicMessage(plan, anthropicModelName(ctx.modelId, plan.invokedModelId), usage) : novaMessage(plan, usage)
  ctx.onEnd(plan.outputTokens, 'complete')
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: {
      'content-type': 'application/json',
      'x-amzn-RequestId': ctx.requestId,
      ...usageHeaders(usage, latencySince(ctx.startedAt)()),
      ...ctx.echoHeaders,
    },
  })
}

export function invokeStreamAnswer(ctx: AnswerContext, format: NativeFormat): Response {
  const { plan, usage, startedAt } = ctx
  let firstFrameAt: number | undefined
  const metrics = (): InvocationMetrics => ({
    inputTokenCount: usage.input,
    outputTokenCount: usage.output,
    invocationLatency: latencySince(startedAt)(),
    firstByteLatency: Math.max(1, (firstFrameAt ?? Date.now()) - startedAt),
    ...(usage.cacheRead || usage.cacheWrite ? { cacheReadInputTokenCount: usage.cacheRead, cacheWriteInputTokenCount: usage.cacheWrite } : {}),
  })
  const events =
    format === 'anthropic' ? anthropicEvents(plan, anthropicModelName(ctx.modelId, plan.invokedModelId), usage, metrics) : novaEvents(plan, usage, metrics)
  const encode = (e: StreamEvent) => {
    firstFrameAt ??= Date.now()
    return encodeChunk(e.payload())
  }
  return eventStream(ctx, events, encode, { 'X-Amzn-Bedrock-Content-Type': 'application/json', ...ctx.echoHeaders })
}

/** A lazily encoded event stream of `events`, shaped by the request's stream rule (cut / exception / delay). */
function eventStream(ctx: AnswerContext, events: StreamEvent[], encode: (e: StreamEvent) => Uint8Array, headers: Record<string, string>): Response {
  const { rule, config } = ctx
  const frames: Array<() => Uint8Array> = events.map((e) => () => encode(e))
  let exceptionAt: number | undefined
  if (rule?.fault === 'exception') {
    exceptionAt = Math.min(rule.afterFrames, events.length)
    const type = rule.exceptionType ?? 'throttlingException'
    const message = rule.message ?? STREAM_EXCEPTION_MESSAGES[type] ?? type
    frames.splice(exceptionAt, frames.length, () => encodeException(type, message))
  }
  if (rule?.fault === 'corrupt' && rule.afterFrames < frames.length) {
    const clean = frames[rule.afterFrames]
    frames[rule.afterFrames] = () => {
      const bytes = clean().slice()
      bytes[bytes.length - 5] ^= 0x01 // the last payload byte: the message CRC no longer matches
      return bytes
    }
  }
  const produced = (framesSent: number) => {
    const lastEvent = Math.min(framesSent, events.length) - 1
    return lastEvent >= 0 ? events[lastEvent].producedTokens : 0
  }
  const body = frameStream({
    frames,
    firstFrameDelayMs: rule?.fault === 'delay' ? rule.firstFrameMs : undefined,
    frameDelayMs: rule?.fault === 'delay' && rule.frameDelayMs !== undefined ? rule.frameDelayMs : config.frameDelayMs,
    chunkSizes: config.chunkSizes,
    cut: rule?.fault === 'cut' ? { afterFrames: rule.afterFrames, partialBytes: rule.partialBytes } : undefined,
    signals: ctx.signals,
    onEnd: ({ framesSent, outcome }) => {
      if (exceptionAt !== undefined && outcome === 'complete') ctx.onEnd(produced(exceptionAt), 'exception')
      else ctx.onEnd(produced(framesSent), outcome)
    },
  })
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-RequestId': ctx.requestId, ...headers },
  })
}
