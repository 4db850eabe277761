/**
 * Fuzzing (fast-check) of what reads untrusted bytes or JSON: the event-stream decoder, the SSE encoder, the OpenAI
 * and Anthropic stream renderers, and the request translators. Random and mutated inputs must never make them throw
 * anything but their own error, hang, or hold more than one frame's worth of memory.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concat } from '../../test/support/fixtures'
import { SseParser } from '../../test/support/sse-parser'
import { anthropicStreamRenderer } from '../front-doors/anthropic/from-converse'
import { toInvokeBody } from '../front-doors/anthropic/to-invoke'
import { messagesToConverse } from '../front-doors/anthropic/to-converse'
import { chunkRenderer } from '../front-doors/openai/chunks'
import { toConverse } from '../front-doors/openai/to-converse'
import { decodeFrame, encodeEventFrame, encodeExceptionFrame, EventStreamError, EventStreamFramer, MAX_FRAME_LENGTH, type Frame } from './eventstream'
import { sseFromFrame } from './sse'

const RUNS = { numRuns: 300 }
const decoder = new TextDecoder()

/** A valid ConverseStream-like sequence of frames, as bytes. */
const validFrames = fc
  .array(
    fc.oneof(
      fc.record({ type: fc.constantFrom('messageStart', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata'), payload: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({ type: fc.constant('exception'), payload: fc.string() }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((events) => events.map((e) => (e.type === 'exception' ? encodeExceptionFrame('throttlingException', String(e.payload)) : encodeEventFrame(e.type, JSON.stringify(e.payload) ?? 'null'))))

/** Feeds `bytes` to a framer in pieces cut at `cuts`; returns the frames, or the EventStreamError it threw. */
function frame(bytes: Uint8Array, cuts: number[]): { frames: Frame[]; error?: EventStreamError; maxBuffered: number } {
  const framer = new EventStreamFramer()
  const frames: Frame[] = []
  let maxBuffered = 0
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let from = 0
  try {
    for (const to of [...points, bytes.length]) {
      frames.push(...framer.push(bytes.subarray(from, to)))
      maxBuffered = Math.max(maxBuffered, framer.bufferedBytes)
      from = to
    }
    framer.end()
    return { frames, maxBuffered }
  } catch (e) {
    if (!(e instanceof EventStreamError)) throw e
    return { frames, error: e, maxBuffered }
  }
}

describe('the event-stream decoder under random and mutated bytes', () => {
  it('random bytes: frames or an EventStreamError, nothing else, never buffering more than a frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const r = frame(bytes, cuts)
        expect(r.maxBuffered).toBeLessThanOrEqual(MAX_FRAME_LENGTH)
      }),
      RUNS,
    )
  })

  it('valid streams, mutated (a flipped byte, a cut, an insertion): what it returns is exactly the frames before the damage', () => {
    fc.assert(
      fc.property(
        validFrames,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('flip', 'cut', 'insert'),
        fc.array(fc.nat(), { maxLength: 5 }),
        (frames, at, byte, how, cuts) => {
          const clean = concat(...frames)
          const i = at % clean.length
          const damaged = how === 'flip' ? clean.slice() : how === 'cut' ? clean.subarray(0, i) : concat(clean.subarray(0, i), new Uint8Array([byte]), clean.subarray(i))
          if (how === 'flip') damaged[i] ^= byte
          const r = frame(damaged, cuts)
          // Every frame returned is one of the originals, byte for byte, in order.
          r.frames.forEach((f, k) => expect(f.bytes).toEqual(frames[k]))
          if (how === 'cut' && !r.error) expect(r.frames.length).toBeLessThan(frames.length + 1)
        },
      ),
      RUNS,
    )
  })
})

/** Frames with arbitrary event types and payloads, valid on the wire. */
const anyFrame = fc.oneof(
  fc.record({ type: fc.string({ maxLength: 24 }), payload: fc.string({ maxLength: 200 }) }).map(({ type, payload }) => {
    try {
      return decodeFrame(encodeEventFrame(type || 'x', payload))
    } catch {
      return decodeFrame(encodeEventFrame('contentBlockDelta', payload))
    }
  }),
  fc.record({ type: fc.constantFrom('contentBlockStart', 'contentBlockDelta', 'contentBlockStop', 'messageStart', 'messageStop', 'metadata', 'chunk'), payload: fc.jsonValue({ maxDepth: 4 }) }).map(({ type, payload }) =>
    decodeFrame(encodeEventFrame(type, JSON.stringify(payload) ?? 'null')),
  ),
  fc.string({ maxLength: 100 }).map((m) => decodeFrame(encodeExceptionFrame('modelStreamErrorException', m))),
)

describe('the stream encoders under arbitrary frames', () => {
  it('SSE: one event per frame whose data is the payload (or an EventStreamError for a name SSE cannot carry)', () => {
    fc.assert(
      fc.property(anyFrame, (f) => {
        let bytes: Uint8Array
        try {
          bytes = sseFromFrame(f)
        } catch (e) {
          expect(e).toBeInstanceOf(EventStreamError)
          return
        }
        const events = new SseParser().push(decoder.decode(bytes))
        expect(events).toHaveLength(1)
        if (f.messageType === 'event') expect(events[0].data).toBe(decoder.decode(f.payload).replace(/\r\n|\r/g, '\n'))
      }),
      RUNS,
    )
  })

  it('the OpenAI and Anthropic stream renderers never throw, whatever the frames', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { maxLength: 12 }), (frames) => {
        const openai = chunkRenderer({ id: 'chatcmpl-1', created: 1, model: 'm', includeUsage: true })
        const anthropic = anthropicStreamRenderer({ id: 'msg_1', model: 'm' })
        for (const r of [openai, anthropic]) {
          for (const f of frames) r.event(f)
          r.end?.()
          r.error({ exception: 'internalServerException', status: 500, message: 'x', result: { class: 'network', status: 502 } } as never)
        }
      }),
      RUNS,
    )
  })
})

/** JSON shaped loosely like chat requests: the keys the translators read, with any values. */
const looseRequest = fc.record(
  {
    model: fc.oneof(fc.string(), fc.jsonValue()),
    messages: fc.oneof(
      fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'assistant', 'system', 'developer', 'tool'), fc.string()), content: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 4 })) }, { requiredKeys: [] }), { maxLength: 5 }),
      fc.jsonValue({ maxDepth: 3 }),
    ),
    system: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 3 })),
    tools: fc.jsonValue({ maxDepth: 4 }),
    tool_choice: fc.jsonValue({ maxDepth: 2 }),
    max_tokens: fc.jsonValue({ maxDepth: 1 }),
    stream: fc.jsonValue({ maxDepth: 1 }),
    response_format: fc.jsonValue({ maxDepth: 3 }),
    metadata: fc.jsonValue({ maxDepth: 2 }),
    thinking: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
)

describe('the request translators under arbitrary JSON', () => {
  it('OpenAI → Converse, Anthropic → InvokeModel and → Converse: a translation or a refusal, never a throw', () => {
    fc.assert(
      fc.property(looseRequest, (body) => {
        const req = body as Record<string, unknown>
        const a = toConverse(req, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0')
        expect(typeof a.ok).toBe('boolean')
        const b = toInvokeBody(req, undefined)
        expect(typeof b.ok).toBe('boolean')
        const c = messagesToConverse(req, 'amazon')
        expect(typeof c.ok).toBe('boolean')
      }),
      { numRuns: 1000 },
    )
  })
})
