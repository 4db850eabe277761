/**
 * A pull-driven ReadableStream of event-stream frames: each frame is encoded only when the reader asks for it,
 * with optional delays, re-chunking into odd sizes across frame boundaries, and a simulated connection cut.
 * Cancelling the stream (client gone) or aborting a signal clears any pending timer.
 */
import { sleep } from './sleep'

export type StreamOutcome = 'complete' | 'cut' | 'cancelled'

export interface FrameStreamOptions {
  /** Lazily encoded frames, in order. */
  frames: Array<() => Uint8Array>
  firstFrameDelayMs?: number
  frameDelayMs?: number
  /** Chunk sizes to cycle through; unset = one chunk per frame. */
  chunkSizes?: number[]
  /** Send `afterFrames` frames and `partialBytes` of the next, then error the stream. */
  cut?: { afterFrames: number; partialBytes?: number }
  /** Aborting any of these ends the stream with an error (request aborted, simulator closed). */
  signals: ReadonlyArray<AbortSignal | undefined>
  onEnd(result: { framesSent: number; outcome: StreamOutcome }): void
}

export function frameStream(o: FrameStreamOptions): ReadableStream<Uint8Array> {
  const cancelled = new AbortController()
  const signals = [...o.signals, cancelled.signal]
  const sizes = o.chunkSizes?.filter((n) => Number.isInteger(n) && n > 0) ?? []
  const out: Uint8Array[] = []
  let carry = new Uint8Array(0)
  let sizeIndex = 0
  let sent = 0
  let pendingEnd: 'close' | 'cut' | undefined
  let done = false

  const finish = (outcome: StreamOutcome) => {
    if (done) return
    done = true
    o.onEnd({ framesSent: sent, outcome })
  }
  const push = (bytes: Uint8Array) => {
    if (sizes.length === 0) {
      if (bytes.length) out.push(bytes)
      return
    }
    const joined = new Uint8Array(carry.length + bytes.length)
    joined.set(carry)
    joined.set(bytes, carry.length)
    let at = 0
    while (joined.length - at >= sizes[sizeIndex % sizes.length]) {
      const n = sizes[sizeIndex++ % sizes.length]
      out.push(joined.slice(at, at + n))
      at += n
    }
    carry = joined.slice(at)
  }
  const flush = () => {
    if (carry.length) out.push(carry)
    carry = new Uint8Array(0)
  }

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          if (done) return
          if (o.signals.some((s) => s?.aborted)) {
            controller.error(new Error('simulator stream aborted'))
            return finish('cancelled')
          }
          if (out.length) return controller.enqueue(out.shift()!)
          if (pendingEnd === 'close') {
            controller.close()
            return finish('complete')
          }
          if (pendingEnd === 'cut') {
            controller.error(new Error('simulated connection cut'))
            return finish('cut')
          }
          const delay = sent === 0 ? o.firstFrameDelayMs : o.frameDelayMs
          if (delay && !(await sleep(delay, signals))) {
            if (!cancelled.signal.aborted) controller.error(new Error('simulator stream aborted'))
            return finish('cancelled')
          }
          if (o.cut && sent >= o.cut.afterFrames) {
            const next = o.frames[sent]
            if (next && o.cut.partialBytes) push(next().subarray(0, o.cut.partialBytes))
            flush()
            pendingEnd = 'cut'
            continue
          }
          push(o.frames[sent]())
          sent++
          if (sent >= o.frames.length) {
            flush()
            pendingEnd = 'close'
          }
        }
      },
      cancel() {
        cancelled.abort()
        finish('cancelled')
      },
    },
    { highWaterMark: 0 },
  )
}
