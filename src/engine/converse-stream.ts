/**
 * A committed ConverseStream, as the engine hands it to a front door: the upstream events, each as soon as it is
 * framed and CRC-checked, rendered by the front door's `StreamRenderer` (the Bedrock routes pass frames through
 * byte-identical or re-encode them as SSE; other front doors translate them). The engine keeps what every format
 * needs the same: the idle watchdog, usage from the final `metadata` event (estimated when the stream ends without
 * one) and the settlement of the reservation at the end. Any upstream failure after commit ends the client's
 * stream with the renderer's error, never a silent clean end — including a stream that stops before its
 * `metadata` event.
 */
import type { TokenUsage, UpstreamResult } from '../routing/types'
import { classifyNetworkError, classifyTimeout } from '../routing/classify'
import { EventStreamError, type Frame } from '../wire/eventstream'
import { frameJson, invokeChunkEvent } from '../wire/invoke-chunk'
import { frameFailure, relayableFrame, usageOf, type StreamStart } from './attempt'

/** How a front door writes a Converse event stream in its protocol. */
export interface StreamRenderer {
  /** The bytes for one Converse stream event (`frame.eventType`, its JSON `payload`, its wire `bytes`); undefined: nothing. */
  event(frame: Frame): Uint8Array | undefined
  /** The bytes that end the stream with an error. */
  error(failure: StreamFailure): Uint8Array
  /**
   * The bytes that carry the stream's usage and cost after its last event, where the format has a place for them
   * that clients ignore (an SSE comment); a stream has no trailers for a response header.
   */
  trailer?(accounting: StreamAccounting): Uint8Array | undefined
  /** The bytes after a clean end (e.g. a terminator), if the protocol has one. */
  end?(): Uint8Array | undefined
}

/** Why a committed stream ended early. */
export interface StreamFailure {
  /** The ConverseStream exception name closest to the failure (lowerCamel, as Bedrock sends it in a stream). */
  exception: string
  /** The HTTP status closest to it (429 throttling, 400 validation, 503 unavailable, else 500), for error shapes that carry one. */
  status: number
  message: string
  /** Upstream's own exception frame, when upstream sent one (relayable as is). */
  frame?: Frame
  result: UpstreamResult
}

/** What a finished stream used and cost. */
export interface StreamAccounting {
  usage?: TokenUsage
  costUsd?: number
}

export interface ConverseEventStream {
  /** The client's body: the events rendered as they arrive. Call once. */
  render(renderer: StreamRenderer): ReadableStream<Uint8Array>
}

/**
 * Frames already at hand (a cached answer, a cascade tier's held stream) as an event stream: each rendered through the
 * caller's renderer, then the trailer and the end a live stream's clean end gives; `onEnd` after.
 */
export function replayedEvents(frames: readonly Frame[], accounting: StreamAccounting, onEnd?: () => void): ConverseEventStream {
  return {
    render(renderer) {
      return new ReadableStream<Uint8Array>({
        start(controller) {
          for (const frame of frames) {
            const out = renderer.event(frame)
            if (out) controller.enqueue(out)
          }
          const trailer = renderer.trailer?.(accounting)
          if (trailer) controller.enqueue(trailer)
          const tail = renderer.end?.()
          if (tail) controller.enqueue(tail)
          controller.close()
          onEnd?.()
        },
      })
    },
  }
}

export interface StreamSummary {
  /** success, or why the stream ended early. */
  result: UpstreamResult
  usage?: TokenUsage
  /** `usage` is the router's estimate (the stream ended before Bedrock's metadata event). */
  usageEstimated?: boolean
  invokedModelId?: string
  /** From the messageStop event (`guardrail_intervened` is counted). */
  stopReason?: string
  frames: number
  /** The client disconnected before the end. */
  cancelled: boolean
}

/**
 * `invoke`: the stream is InvokeModelWithResponseStream's (`chunk` events holding the model's own events): usage is
 * in the last chunk's `amazon-bedrock-invocationMetrics`, and a stream whose last chunk has none was cut short.
 */
export function converseEventStream(
  start: StreamStart,
  idleTimeoutMs: number,
  inputTokens: number,
  onDone: (summary: StreamSummary) => void,
  invoke = false,
  costOf?: (usage: TokenUsage, invokedModelId?: string) => number | undefined,
): ConverseEventStream {
  let rendered = false
  return {
    render(renderer) {
      if (rendered) throw new Error('a Converse event stream renders once')
      rendered = true
      return renderStream(start, renderer, idleTimeoutMs, inputTokens, onDone, invoke, costOf)
    },
  }
}

function renderStream(
  start: StreamStart,
  renderer: StreamRenderer,
  idleTimeoutMs: number,
  inputTokens: number,
  onDone: (summary: StreamSummary) => void,
  invoke: boolean,
  costOf?: (usage: TokenUsage, invokedModelId?: string) => number | undefined,
): ReadableStream<Uint8Array> {
  const { reader, framer } = start
  let pending: Frame[] | undefined = start.frames
  let usage: TokenUsage | undefined
  let deltaBytes = 0
  let invokedModelId: string | undefined
  let stopReason: string | undefined
  let frames = 0
  let sawMetadata = false
  let lastChunk: Frame | undefined
  /** InvokeModel streams: the invocation metrics are in the last chunk; read them once the stream has ended. */
  const readInvocationMetrics = () => {
    const metrics = lastChunk && invokeChunkEvent(lastChunk)?.['amazon-bedrock-invocationMetrics']
    if (!metrics || typeof metrics.inputTokenCount !== 'number' || typeof metrics.outputTokenCount !== 'number') return
    sawMetadata = true
    usage = { inputTokens: metrics.inputTokenCount, outputTokens: metrics.outputTokenCount }
    if (typeof metrics.cacheReadInputTokenCount === 'number') usage.cacheReadInputTokens = metrics.cacheReadInputTokenCount
    if (typeof metrics.cacheWriteInputTokenCount === 'number') usage.cacheWriteInputTokens = metrics.cacheWriteInputTokenCount
  }
  let finished = false

  // Idle watchdog: one timer for the whole stream (not one per chunk). It counts only time spent waiting on
  // upstream, so a slow client (backpressure) is never mistaken for a stalled upstream.
  let readingSince: number | undefined
  let stalled = false
  let watchdog: ReturnType<typeof setTimeout> | undefined
  const watch = (delay: number) => {
    watchdog = setTimeout(() => {
      if (finished) return
      const waited = readingSince === undefined ? 0 : Date.now() - readingSince
      if (waited >= idleTimeoutMs) {
        stalled = true
        start.abort.abort()
        reader.cancel().catch(() => {})
      } else watch(idleTimeoutMs - waited)
    }, delay)
  }
  watch(idleTimeoutMs)

  const finish = (result: UpstreamResult, cancelled = false) => {
    if (finished) return
    finished = true
    clearTimeout(watchdog)
    // A stream that ended before its metadata still consumed quota: Bedrock counted the input and what it
    // generated. Estimate both, so the window is not credited as if the request never happened.
    const usageEstimated = !usage && deltaBytes > 0
    if (usageEstimated) usage = { inputTokens, outputTokens: Math.max(1, Math.ceil(deltaBytes / 4)) }
    onDone({ result, usage, usageEstimated, invokedModelId, stopReason, frames, cancelled })
  }

  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, result: UpstreamResult, frame?: Frame) => {
    const exception = exceptionName(result)
    controller.enqueue(renderer.error({ exception, status: EXCEPTION_STATUS[exception] ?? 500, message: result.message ?? 'upstream stream failed', frame, result }))
    controller.close()
    reader.cancel().catch(() => {})
    finish(result)
  }

  /**
   * Forwards a batch of frames (one upstream chunk's worth) as one enqueue. `ended`: the stream has been ended
   * by an exception frame; `empty`: the renderer had nothing for these frames, so the caller must read on — a
   * pull that enqueues nothing is never called again, and the client would wait forever.
   */
  const forward = (controller: ReadableStreamDefaultController<Uint8Array>, batch: Frame[]): 'sent' | 'empty' | 'ended' => {
    const out: Uint8Array[] = []
    for (const frame of batch) {
      if (frame.messageType !== 'event') {
        enqueueAll(controller, out)
        // Relayed as it came only when clean (attempt.ts: relayableFrame); else the renderer writes its own.
        fail(controller, frameFailure(frame), relayableFrame(frame) ? frame : undefined)
        return 'ended'
      }
      frames++
      // Text and tool input generated so far (payload minus its JSON envelope and padding), for the estimate above.
      if (frame.eventType === 'contentBlockDelta') deltaBytes += Math.max(0, frame.payload.length - 80)
      else if (invoke && frame.eventType === 'chunk') {
        lastChunk = frame
        deltaBytes += Math.max(0, frame.payload.length * 0.75 - 100) // base64 of the model's event, minus its envelope
      }
      if (frame.eventType === 'messageStop') stopReason = frameJson(frame)?.stopReason
      if (frame.eventType === 'metadata') {
        sawMetadata = true
        // Metadata we cannot read is still forwarded; accounting falls back to the reservation.
        const meta = frameJson(frame)
        usage = usageOf(meta?.usage)
        invokedModelId = meta?.trace?.promptRouter?.invokedModelId
      }
      const bytes = renderer.event(frame)
      if (bytes) out.push(bytes)
    }
    enqueueAll(controller, out)
    return out.length ? 'sent' : 'empty'
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (pending) {
            const batch = pending
            pending = undefined
            if (forward(controller, batch) === 'ended') return
          }
          for (;;) {
            readingSince = Date.now()
            const { done, value } = await reader.read()
            readingSince = undefined
            if (stalled) throw new StreamIdleError(`upstream sent nothing for ${idleTimeoutMs} ms`)
            if (done) {
              framer.end()
              if (invoke) readInvocationMetrics()
              if (!sawMetadata) {
                fail(controller, classifyNetworkError('upstream stream ended before its metadata event (truncated)'))
                return
              }
              if (renderer.trailer) {
                const trailer = renderer.trailer({ usage, costUsd: usage && costOf ? costOf(usage, invokedModelId) : undefined })
                if (trailer) controller.enqueue(trailer)
              }
              const tail = renderer.end?.()
              if (tail) controller.enqueue(tail)
              controller.close()
              finish({ class: 'success', status: 200 })
              return
            }
            const batch = framer.push(value)
            if (batch.length === 0) continue
            const sent = forward(controller, batch)
            // Read on while the client's queue has room: a pull per upstream chunk cost more than the chunk's own work
            // (BENCHMARKS §3). `empty`: nothing enqueued, and a pull that enqueues nothing is not called again.
            if (sent === 'empty' || (sent === 'sent' && (controller.desiredSize ?? 0) > 0)) continue
            return
          }
        } catch (e) {
          if (stalled || e instanceof StreamIdleError) {
            start.abort.abort()
            fail(controller, classifyTimeout(`upstream stream stalled: upstream sent nothing for ${idleTimeoutMs} ms`))
            return
          }
          // Frames that were whole and valid before the bad one still go to the client, then the error.
          if (e instanceof EventStreamError && e.frames.length && forward(controller, e.frames) === 'ended') return
          const message = e instanceof EventStreamError ? `malformed upstream stream: ${e.message}` : `upstream stream broke off: ${(e as Error)?.message ?? e}`
          fail(controller, classifyNetworkError(message))
        }
      },
      cancel() {
        start.abort.abort()
        reader.cancel().catch(() => {})
        finish({ class: 'success', status: 499, message: 'client cancelled' }, true)
      },
    },
    // Read ahead of a slow client by a few chunks rather than one pull per chunk.
    { highWaterMark: 8 },
  )
}

class StreamIdleError extends Error {}

/** Enqueues the parts as one chunk: contiguous views of one upstream chunk are passed on without a copy. */
function enqueueAll(controller: ReadableStreamDefaultController<Uint8Array>, parts: Uint8Array[]) {
  if (parts.length === 0) return
  if (parts.length === 1) return controller.enqueue(parts[0])
  const first = parts[0]
  let contiguous = true
  let length = 0
  for (const p of parts) {
    if (contiguous && (p.buffer !== first.buffer || p.byteOffset !== first.byteOffset + length)) contiguous = false
    length += p.length
  }
  if (contiguous) return controller.enqueue(new Uint8Array(first.buffer, first.byteOffset, length))
  const joined = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    joined.set(p, offset)
    offset += p.length
  }
  controller.enqueue(joined)
}

/** Exceptions ConverseStream defines (docs/bedrock-wire.md §2.7): what SDKs can decode into a modeled error. */
const STREAM_EXCEPTIONS = new Set(['internalServerException', 'modelStreamErrorException', 'validationException', 'throttlingException', 'serviceUnavailableException'])

const EXCEPTION_STATUS: Record<string, number> = { throttlingException: 429, validationException: 400, serviceUnavailableException: 503 }

/** The in-stream exception name (lowerCamel, as Bedrock sends) closest to a failure. */
function exceptionName(result: UpstreamResult): string {
  const named = result.errorType && result.errorType.charAt(0).toLowerCase() + result.errorType.slice(1)
  if (named && STREAM_EXCEPTIONS.has(named)) return named
  switch (result.class) {
    case 'throttled':
      return 'throttlingException'
    case 'unavailable':
      return 'serviceUnavailableException'
    case 'client':
      return 'validationException'
    default:
      return 'internalServerException'
  }
}

