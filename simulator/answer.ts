/** Turns an answer plan into the HTTP response: Converse JSON, or a ConverseStream event stream (with stream faults). */
import { STREAM_EXCEPTION_MESSAGES } from './errors'
import { encodeEvent, encodeException, planEvents } from './eventstream'
import { frameStream, type StreamOutcome } from './frame-stream'
import { converseResponseBody, type AnswerPlan } from './responses'
import type { SimConfig, StoredRule } from './types'

export interface AnswerContext {
  plan: AnswerPlan
  requestId: string
  config: SimConfig
  /** The stream-shaping rule picked for this request, if any (cut / exception / delay). */
  rule?: StoredRule
  startedAt: number
  signals: ReadonlyArray<AbortSignal | undefined>
  /** Called once with the output tokens actually produced and how the answer ended. */
  onEnd(outputTokens: number, how: StreamOutcome | 'exception'): void
}

const latencySince = (start: number) => () => Math.max(1, Date.now() - start)

export function converseAnswer(ctx: AnswerContext): Response {
  const body = converseResponseBody(ctx.plan, latencySince(ctx.startedAt)())
  ctx.onEnd(ctx.plan.outputTokens, 'complete')
  return new Response(JSON.stringify(body), {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-amzn-RequestId': ctx.requestId },
  })
}

export function streamAnswer(ctx: AnswerContext): Response {
  const { plan, rule, config } = ctx
  const events = planEvents(plan, latencySince(ctx.startedAt))
  const frames: Array<() => Uint8Array> = events.map((e) => () => encodeEvent(e.type, e.payload()))
  let exceptionAt: number | undefined
  if (rule?.fault === 'exception') {
    exceptionAt = Math.min(rule.afterFrames, events.length)
    const type = rule.exceptionType ?? 'throttlingException'
    const message = rule.message ?? STREAM_EXCEPTION_MESSAGES[type] ?? type
    frames.splice(exceptionAt, frames.length, () => encodeException(type, message))
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
    headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-RequestId': ctx.requestId },
  })
}
