/**
 * The client side of a committed ConverseStream: forwards each upstream frame as soon as it is framed and
 * CRC-checked, either byte-identical (binary event stream, what AWS SDKs read) or as SSE (browsers).
 * Any upstream failure after commit ends the client's stream with an explicit error (an exception frame, or
 * SSE `event: error`), never a silent clean end — including a stream that stops before its `metadata` event.
 */
import type { TokenUsage, UpstreamResult } from '../routing/types'
import { classifyNetworkError, classifyTimeout } from '../routing/classify'
import { encodeExceptionFrame, EventStreamError, type Frame } from '../wire/eventstream'
import { sseError, sseFromFrame } from '../wire/sse'
import { frameFailure, usageOf, type StreamStart } from './attempt'

export type StreamFormat = 'eventstream' | 'sse'

export interface StreamSummary {
  /** success, or why the stream ended early. */
  result: UpstreamResult
  usage?: TokenUsage
  /** `usage` is the router's estimate (the stream ended before Bedrock's metadata event). */
  usageEstimated?: boolean
  invokedModelId?: string
  frames: number
  /** The client disconnected before the end. */
  cancelled: boolean
}

const decoder = new TextDecoder()

export function clientStream(
  start: StreamStart,
  format: StreamFormat,
  idleTimeoutMs: number,
  inputTokens: number,
  onDone: (summary: StreamSummary) => void,
): ReadableStream<Uint8Array> {
  const { reader, framer } = start
  let pending: Frame[] | undefined = start.frames
  let usage: TokenUsage | undefined
  let deltaBytes = 0
  let invokedModelId: string | undefined
  let frames = 0
  let sawMetadata = false
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
    onDone({ result, usage, usageEstimated, invokedModelId, frames, cancelled })
  }

  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, result: UpstreamResult, frame?: Frame) => {
    if (format === 'sse') {
      controller.enqueue(frame ? sseFromFrame(frame) : sseError(exceptionName(result), result.message ?? 'upstream stream failed'))
    } else {
      controller.enqueue(frame ? frame.bytes : encodeExceptionFrame(exceptionName(result), result.message ?? 'upstream stream failed'))
    }
    controller.close()
    reader.cancel().catch(() => {})
    finish(result)
  }

  /**
   * Forwards a batch of frames (one upstream chunk's worth) as one enqueue; returns false once the stream has
   * been ended by an exception frame.
   */
  const forward = (controller: ReadableStreamDefaultController<Uint8Array>, batch: Frame[]): boolean => {
    const out: Uint8Array[] = []
    for (const frame of batch) {
      if (frame.messageType !== 'event') {
        enqueueAll(controller, out)
        fail(controller, frameFailure(frame), frame)
        return false
      }
      frames++
      // Text and tool input generated so far (payload minus its JSON envelope and padding), for the estimate above.
      if (frame.eventType === 'contentBlockDelta') deltaBytes += Math.max(0, frame.payload.length - 80)
      if (frame.eventType === 'metadata') {
        sawMetadata = true
        try {
          const meta = JSON.parse(decoder.decode(frame.payload))
          usage = usageOf(meta.usage)
          invokedModelId = meta.trace?.promptRouter?.invokedModelId
        } catch {
          // metadata we cannot read is still forwarded; accounting falls back to the reservation
        }
      }
      out.push(format === 'sse' ? sseFromFrame(frame) : frame.bytes)
    }
    enqueueAll(controller, out)
    return true
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (pending) {
            const batch = pending
            pending = undefined
            if (!forward(controller, batch)) return
          }
          for (;;) {
            readingSince = Date.now()
            const { done, value } = await reader.read()
            readingSince = undefined
            if (stalled) throw new StreamIdleError(`upstream sent nothing for ${idleTimeoutMs} ms`)
            if (done) {
              framer.end()
              if (!sawMetadata) {
                fail(controller, classifyNetworkError('upstream stream ended before its metadata event (truncated)'))
                return
              }
              controller.close()
              finish({ class: 'success', status: 200 })
              return
            }
            const batch = framer.push(value)
            if (batch.length === 0) continue
            forward(controller, batch)
            return
          }
        } catch (e) {
          if (stalled || e instanceof StreamIdleError) {
            start.abort.abort()
            fail(controller, classifyTimeout(`upstream stream stalled: upstream sent nothing for ${idleTimeoutMs} ms`))
            return
          }
          // Frames that were whole and valid before the bad one still go to the client, then the error.
          if (e instanceof EventStreamError && e.frames.length && !forward(controller, e.frames)) return
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

