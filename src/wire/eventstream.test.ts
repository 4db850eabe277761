import { describe, expect, it } from 'vitest'
import { crc32 } from './crc32'
import {
  decodeFrame,
  encodeErrorFrame,
  encodeEventFrame,
  encodeExceptionFrame,
  encodeFrame,
  EventStreamError,
  EventStreamFramer,
  MAX_HEADERS_LENGTH,
  MAX_PAYLOAD_LENGTH,
  type EventStreamErrorReason,
  type Frame,
} from './eventstream'
import { concat, FIXTURES, fixture, rng, utf8 } from '../../test/support/fixtures'

const u32 = (b: Uint8Array, p: number) => new DataView(b.buffer, b.byteOffset).getUint32(p)
const hex32 = (s: string) => parseInt(s, 16)

function decodeChunks(chunks: Uint8Array[]): Frame[] {
  const framer = new EventStreamFramer()
  const frames = chunks.flatMap((c) => framer.push(c))
  framer.end()
  return frames
}

/** Compact fingerprint of a frame list (exact bytes are checked separately via concatenation). */
const signature = (frames: Frame[]) =>
  frames.map((f) => `${f.bytes.length}:${f.messageType}:${f.eventType}:${f.exceptionType}:${crc32(f.bytes)}`).join('|')

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Offsets where frames end (incl. 0). */
const boundaries = (frames: { total: number }[]) => frames.reduce((acc, f) => [...acc, acc[acc.length - 1] + f.total], [0])

function expectReason(fn: () => unknown, reason: EventStreamErrorReason): EventStreamError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(EventStreamError)
    expect((e as EventStreamError).reason, (e as Error).message).toBe(reason)
    return e as EventStreamError
  }
  throw new Error(`expected EventStreamError '${reason}', nothing thrown`)
}

/** A 12-byte prelude with a correct CRC. */
function prelude(total: number, headersLength: number): Uint8Array {
  const b = new Uint8Array(12)
  const dv = new DataView(b.buffer)
  dv.setUint32(0, total)
  dv.setUint32(4, headersLength)
  dv.setUint32(8, crc32(b, 0, 8))
  return b
}

/** A frame with both CRCs right around an arbitrary (possibly malformed) header block. */
function rawFrame(headerBlock: number[] | Uint8Array, payload = new Uint8Array(0)): Uint8Array {
  const h = Uint8Array.from(headerBlock)
  const total = 16 + h.length + payload.length
  const b = concat(prelude(total, h.length), h, payload, new Uint8Array(4))
  new DataView(b.buffer).setUint32(total - 4, crc32(b, 0, total - 4))
  return b
}

/** Header-block bytes of one string header. */
function strHeader(name: string, value: string): number[] {
  const n = new TextEncoder().encode(name)
  const v = new TextEncoder().encode(value)
  return [n.length, ...n, 7, v.length >> 8, v.length & 0xff, ...v]
}
const EVENT_HEADERS = [...strHeader(':message-type', 'event'), ...strHeader(':event-type', 'x')]

describe('EventStreamFramer on real Bedrock captures', () => {
  for (const fx of FIXTURES) {
    describe(fx.name, () => {
      it('decodes to exactly the .decoded.jsonl (lengths, CRCs, headers, payload)', () => {
        const frames = decodeChunks([fx.bytes])
        expect(frames.length).toBe(fx.expected.length)
        frames.forEach((f, i) => {
          const x = fx.expected[i]
          expect(f.bytes.length).toBe(x.total)
          expect(u32(f.bytes, 0)).toBe(x.total)
          expect(u32(f.bytes, 4)).toBe(x.hlen)
          expect(u32(f.bytes, 8)).toBe(hex32(x.prelude_crc))
          expect(crc32(f.bytes, 0, 8)).toBe(hex32(x.prelude_crc))
          expect(u32(f.bytes, x.total - 4)).toBe(hex32(x.msg_crc))
          expect(crc32(f.bytes, 0, x.total - 4)).toBe(hex32(x.msg_crc))
          expect(Object.keys(f.headers)).toEqual(x.headers.map(([name]) => name))
          for (const [name, type, value] of x.headers) {
            expect(type).toBe(7)
            expect(f.headers[name]).toEqual({ type: 'string', value })
          }
          const byName = Object.fromEntries(x.headers.map(([n, , v]) => [n, v]))
          expect(f.messageType).toBe(byName[':message-type'])
          expect(f.eventType).toBe(byName[':event-type'])
          expect(f.exceptionType).toBe(byName[':exception-type'])
          expect(f.contentType).toBe(byName[':content-type'])
          expect(utf8(f.payload)).toBe(x.payload)
          expect(f.payload.length).toBe(x.total - x.hlen - 16)
        })
      })

      it('returns views of the pushed chunk (no copy) and covers it exactly', () => {
        const frames = decodeChunks([fx.bytes])
        const starts = boundaries(fx.expected)
        frames.forEach((f, i) => {
          expect(f.bytes.buffer).toBe(fx.bytes.buffer)
          expect(f.bytes.byteOffset).toBe(fx.bytes.byteOffset + starts[i])
        })
        expect(bytesEqual(concat(...frames.map((f) => f.bytes)), fx.bytes)).toBe(true)
      })

      it('gives the same frames when split in two at every byte offset', () => {
        const want = signature(decodeChunks([fx.bytes]))
        for (let k = 0; k <= fx.bytes.length; k++) {
          const frames = decodeChunks([fx.bytes.subarray(0, k), fx.bytes.subarray(k)])
          expect(signature(frames), `split at ${k}`).toBe(want)
          expect(bytesEqual(concat(...frames.map((f) => f.bytes)), fx.bytes), `split at ${k}`).toBe(true)
        }
      })

      it('gives the same frames in 1-byte chunks (each frame emitted on its last byte)', () => {
        const want = decodeChunks([fx.bytes])
        const framer = new EventStreamFramer()
        const got: Frame[] = []
        const ends = new Set(boundaries(fx.expected).slice(1))
        for (let i = 0; i < fx.bytes.length; i++) {
          const out = framer.push(fx.bytes.subarray(i, i + 1))
          expect(out.length, `byte ${i}`).toBe(ends.has(i + 1) ? 1 : 0)
          got.push(...out)
        }
        framer.end()
        expect(signature(got)).toBe(signature(want))
        got.forEach((f, i) => expect(utf8(f.payload)).toBe(fx.expected[i].payload))
      })

      it('gives the same frames under random chunkings (incl. empty chunks)', () => {
        const want = signature(decodeChunks([fx.bytes]))
        const r = rng(42)
        for (let round = 0; round < 200; round++) {
          const chunks: Uint8Array[] = []
          for (let i = 0; i < fx.bytes.length; ) {
            const n = r() < 0.05 ? 0 : 1 + Math.floor(r() * (r() < 0.5 ? 16 : 400))
            chunks.push(fx.bytes.subarray(i, i + n))
            i += n
          }
          expect(signature(decodeChunks(chunks)), `round ${round}`).toBe(want)
        }
      })

      it('end() throws truncated at every offset that is not a frame boundary', () => {
        const ends = boundaries(fx.expected)
        for (let k = 0; k <= fx.bytes.length; k++) {
          const framer = new EventStreamFramer()
          const frames = framer.push(fx.bytes.subarray(0, k))
          expect(frames.length).toBe(ends.filter((e) => e > 0 && e <= k).length)
          if (ends.includes(k)) {
            expect(framer.bufferedBytes).toBe(0)
            framer.end()
          } else {
            expect(framer.bufferedBytes).toBe(k - Math.max(...ends.filter((e) => e <= k)))
            const err = expectReason(() => framer.end(), 'truncated')
            expect(err.message).toContain(`frame #${frames.length}`)
          }
        }
      })

      it('a flipped bit anywhere is caught: prelude → prelude-crc, rest → message-crc', () => {
        const ends = boundaries(fx.expected)
        for (let p = 0; p < fx.bytes.length; p++) {
          const bad = fx.bytes.slice()
          bad[p] ^= 1 << p % 8
          const index = ends.filter((e) => e <= p).length - 1
          const inFrame = p - ends[index]
          const framer = new EventStreamFramer()
          const err = expectReason(() => framer.push(bad), inFrame < 12 ? 'prelude-crc' : 'message-crc')
          expect(err.message).toContain(`frame #${index} (stream byte ${ends[index]})`)
          expect(err.frames.length, 'frames before the bad one are handed back').toBe(index)
          expectReason(() => framer.push(new Uint8Array(1)), 'closed')
          expectReason(() => framer.end(), 'closed')
        }
      })
    })
  }

  it('decodes all captures concatenated, under random chunkings', () => {
    const all = concat(...FIXTURES.map((f) => f.bytes))
    const want = FIXTURES.flatMap((f) => f.expected.map((x) => x.payload))
    const r = rng(7)
    for (let round = 0; round < 100; round++) {
      const chunks: Uint8Array[] = []
      for (let i = 0; i < all.length; ) {
        const n = 1 + Math.floor(r() * 700)
        chunks.push(all.subarray(i, i + n))
        i += n
      }
      expect(decodeChunks(chunks).map((f) => utf8(f.payload))).toEqual(want)
    }
  })

  it('recognises the (synthetic) modelStreamErrorException frame', () => {
    const [f] = decodeChunks([fixture('vercel-model-stream-error-exception').bytes])
    expect(f.messageType).toBe('exception')
    expect(f.exceptionType).toBe('modelStreamErrorException')
    expect(f.eventType).toBeUndefined()
    expect(f.contentType).toBe('application/json')
    expect(JSON.parse(utf8(f.payload))).toEqual({ message: 'Model Stream Error', originalStatusCode: 500, originalMessage: 'The model stream failed.' })
  })

  it('copies a frame that spans chunks into its own buffer', () => {
    const fx = fixture('vercel-issue-18994-live-sonnet-4-6')
    const a = fx.bytes.slice(0, 100)
    const b = fx.bytes.slice(100)
    const framer = new EventStreamFramer()
    expect(framer.push(a)).toEqual([])
    const [first, second] = framer.push(b)
    expect(first.bytes.buffer).not.toBe(a.buffer)
    expect(first.bytes.buffer).not.toBe(b.buffer)
    expect(bytesEqual(first.bytes, fx.bytes.subarray(0, 180))).toBe(true)
    expect(second.bytes.buffer).toBe(b.buffer) // wholly inside the second chunk: a view
  })
})

describe('EventStreamFramer lengths', () => {
  it('rejects total < 16 as soon as the prelude is in', () => {
    expectReason(() => new EventStreamFramer().push(prelude(15, 0)), 'bad-length')
    expectReason(() => new EventStreamFramer().push(prelude(0, 0)), 'bad-length')
  })
  it('rejects headers_length > total - 16', () => {
    expectReason(() => new EventStreamFramer().push(prelude(16, 1)), 'bad-length')
    expectReason(() => new EventStreamFramer().push(prelude(40, 25)), 'bad-length')
  })
  it('rejects headers > 128 KiB and payload > 24 MiB before buffering them', () => {
    expectReason(() => new EventStreamFramer().push(prelude(16 + MAX_HEADERS_LENGTH + 1, MAX_HEADERS_LENGTH + 1)), 'bad-length')
    expectReason(() => new EventStreamFramer().push(prelude(16 + MAX_PAYLOAD_LENGTH + 1, 0)), 'bad-length')
    expectReason(() => new EventStreamFramer().push(prelude(0xffffffff, 0)), 'bad-length')
  })
  it('accepts the limits themselves (and waits for the bytes)', () => {
    for (const [total, hlen] of [
      [16 + MAX_PAYLOAD_LENGTH, 0],
      [16 + MAX_HEADERS_LENGTH, MAX_HEADERS_LENGTH],
      [16 + MAX_HEADERS_LENGTH + MAX_PAYLOAD_LENGTH, MAX_HEADERS_LENGTH],
    ]) {
      const framer = new EventStreamFramer()
      expect(framer.push(prelude(total, hlen))).toEqual([])
      expectReason(() => framer.end(), 'truncated')
    }
  })
  it('accepts a minimal frame only if it carries :message-type (a 16-byte frame has no headers)', () => {
    expectReason(() => new EventStreamFramer().push(rawFrame([])), 'bad-headers')
  })
})

describe('EventStreamFramer header validation', () => {
  const cases: [string, number[]][] = [
    ['empty name', [0, 7, 0, 0, ...EVENT_HEADERS]],
    ['name runs past the block', [...EVENT_HEADERS, 5, 0x61, 0x62]],
    ['name without type byte', [...EVENT_HEADERS, 1, 0x61]],
    ['unknown type 10', [...EVENT_HEADERS, 1, 0x61, 10]],
    ['unknown type 255', [...EVENT_HEADERS, 1, 0x61, 255]],
    ['string length past the block', [...EVENT_HEADERS, 1, 0x61, 7, 0, 5, 0x78]],
    ['string length prefix cut', [...EVENT_HEADERS, 1, 0x61, 7, 0]],
    ['binary length past the block', [...EVENT_HEADERS, 1, 0x61, 6, 1, 0, 1, 2]],
    ['int64 cut', [...EVENT_HEADERS, 1, 0x61, 5, 1, 2, 3]],
    ['uuid cut', [...EVENT_HEADERS, 1, 0x61, 9, ...new Array(15).fill(0)]],
    ['duplicate :message-type', [...EVENT_HEADERS, ...strHeader(':message-type', 'event')]],
    ['duplicate custom name (different types)', [...EVENT_HEADERS, 1, 0x61, 0, 1, 0x61, 2, 5]],
    ['missing :message-type', strHeader(':event-type', 'x')],
    [':message-type not a string', [13, ...new TextEncoder().encode(':message-type'), 4, 0, 0, 0, 1]],
    [':event-type not a string', [...strHeader(':message-type', 'event'), 11, ...new TextEncoder().encode(':event-type'), 0]],
    ['event without :event-type', strHeader(':message-type', 'event')],
    ['exception without :exception-type', strHeader(':message-type', 'exception')],
    ['error without :error-code', [...strHeader(':message-type', 'error'), ...strHeader(':error-message', 'boom')]],
  ]
  for (const [name, block] of cases)
    it(`rejects: ${name}`, () => {
      expectReason(() => new EventStreamFramer().push(rawFrame(block)), 'bad-headers')
      expectReason(() => decodeFrame(rawFrame(block)), 'bad-headers')
    })

  it('accepts the same blocks without the defect', () => {
    expect(decodeFrame(rawFrame([...EVENT_HEADERS, 1, 0x61, 7, 0, 1, 0x78])).headers.a).toEqual({ type: 'string', value: 'x' })
    expect(decodeFrame(rawFrame([...EVENT_HEADERS, 1, 0x61, 0, 1, 0x62, 2, 5])).headers).toMatchObject({ a: { type: 'boolean', value: true }, b: { type: 'byte', value: 5 } })
    expect(decodeFrame(rawFrame([...strHeader(':message-type', 'error'), ...strHeader(':error-code', 'E')])).errorCode).toBe('E')
  })

  it('detects duplicates among many headers (beyond the pairwise window)', () => {
    const many = Array.from({ length: 40 }, (_, i) => strHeader(`h${i}`, 'v')).flat()
    const ok = decodeFrame(rawFrame([...EVENT_HEADERS, ...many]))
    expect(Object.keys(ok.headers).length).toBe(42)
    expectReason(() => decodeFrame(rawFrame([...EVENT_HEADERS, ...many, ...strHeader('h39', 'w')])), 'bad-headers')
    expectReason(() => decodeFrame(rawFrame([...EVENT_HEADERS, ...many, ...strHeader('h3', 'w')])), 'bad-headers')
    expectReason(() => decodeFrame(rawFrame([...EVENT_HEADERS, ...many, ...strHeader(':event-type', 'y')])), 'bad-headers')
  })

  it('passes unknown :message-type values through', () => {
    const f = decodeFrame(rawFrame(strHeader(':message-type', 'future')))
    expect(f.messageType).toBe('future')
  })

  it('reads :error-code and :error-message of error frames', () => {
    const f = decodeFrame(encodeErrorFrame('InternalFailure', 'it broke'))
    expect([f.messageType, f.errorCode, f.errorMessage, f.payload.length]).toEqual(['error', 'InternalFailure', 'it broke', 0])
  })
})

describe('EventStreamFramer lifecycle', () => {
  it('refuses input after end(); end() is idempotent', () => {
    const framer = new EventStreamFramer()
    framer.end()
    framer.end()
    expectReason(() => framer.push(new Uint8Array(0)), 'closed')
  })
  it('refuses input after an error, citing it', () => {
    const framer = new EventStreamFramer()
    expectReason(() => framer.push(prelude(3, 0)), 'bad-length')
    const err = expectReason(() => framer.push(encodeEventFrame('x', '{}')), 'closed')
    expect(err.message).toContain('total length below')
    expect((err.cause as EventStreamError).reason).toBe('bad-length')
  })
  it('hands back frames decoded before an error in the same push', () => {
    const fx = fixture('vercel-issue-18994-live-sonnet-4-6')
    const err = expectReason(() => new EventStreamFramer().push(concat(fx.bytes, prelude(15, 0))), 'bad-length')
    expect(err.frames.map((f) => f.eventType)).toEqual(fx.expected.map((x) => x.headers[0][2]))
  })
  it('counts frames and buffered bytes', () => {
    const framer = new EventStreamFramer()
    const f = encodeEventFrame('a', '{}')
    framer.push(concat(f, f.subarray(0, 5)))
    expect([framer.frameCount, framer.bufferedBytes]).toEqual([1, 5])
    framer.push(f.subarray(5, 20))
    expect([framer.frameCount, framer.bufferedBytes]).toEqual([1, 20])
    framer.push(f.subarray(20))
    expect([framer.frameCount, framer.bufferedBytes]).toEqual([2, 0])
  })
  it('caches the parsed header record', () => {
    const f = decodeFrame(encodeEventFrame('a', '{}'))
    expect(f.headers).toBe(f.headers)
  })
})

describe('decodeFrame', () => {
  it('decodes exactly one frame', () => {
    const f = decodeFrame(encodeEventFrame('messageStart', '{"role":"assistant"}'))
    expect([f.messageType, f.eventType, utf8(f.payload)]).toEqual(['event', 'messageStart', '{"role":"assistant"}'])
  })
  it('rejects extra or missing bytes', () => {
    const b = encodeEventFrame('a', '{}')
    expectReason(() => decodeFrame(concat(b, new Uint8Array(1))), 'bad-length')
    expectReason(() => decodeFrame(b.subarray(0, b.length - 1)), 'bad-length')
    expectReason(() => decodeFrame(b.subarray(0, 11)), 'truncated')
  })
})

describe('encoders', () => {
  it('encodeEventFrame reproduces every real Bedrock event frame byte for byte', () => {
    let n = 0
    for (const fx of FIXTURES)
      for (const f of decodeChunks([fx.bytes])) {
        if (f.messageType !== 'event') continue
        expect(bytesEqual(encodeEventFrame(f.eventType!, utf8(f.payload)), f.bytes), `${fx.name} ${f.eventType}`).toBe(true)
        n++
      }
    expect(n).toBe(6 + 25 + 9 + 5)
  })

  it('encodeExceptionFrame: Bedrock header layout, {"message",…extra} payload', () => {
    const f = decodeFrame(encodeExceptionFrame('throttlingException', 'Too many requests', { retryAfterSeconds: 3, message: 'ignored' }))
    expect(Object.entries(f.headers)).toEqual([
      [':exception-type', { type: 'string', value: 'throttlingException' }],
      [':content-type', { type: 'string', value: 'application/json' }],
      [':message-type', { type: 'string', value: 'exception' }],
    ])
    expect([f.messageType, f.exceptionType, f.contentType]).toEqual(['exception', 'throttlingException', 'application/json'])
    expect(utf8(f.payload)).toBe('{"message":"Too many requests","retryAfterSeconds":3}')
  })

  it('encodeFrame keeps header order and handles UTF-8 and empty values', () => {
    const payload = new Uint8Array([0, 255, 10, 13])
    const f = decodeFrame(encodeFrame({ ':message-type': 'event', ':event-type': 'ünïcødé ✓', empty: '' }, payload))
    expect(Object.keys(f.headers)).toEqual([':message-type', ':event-type', 'empty'])
    expect(f.eventType).toBe('ünïcødé ✓')
    expect(f.headers.empty).toEqual({ type: 'string', value: '' })
    expect(Array.from(f.payload)).toEqual([0, 255, 10, 13])
  })

  it('rejects names and values that do not fit the format', () => {
    expectReason(() => encodeFrame({ '': 'x' }, new Uint8Array()), 'bad-headers')
    expectReason(() => encodeFrame({ ['n'.repeat(256)]: 'x' }, new Uint8Array()), 'bad-headers')
    expect(() => encodeFrame({ ['n'.repeat(255)]: 'x' }, new Uint8Array())).not.toThrow()
    expectReason(() => encodeFrame({ a: 'x'.repeat(65536) }, new Uint8Array()), 'bad-headers')
    expect(() => encodeFrame({ a: 'x'.repeat(65535) }, new Uint8Array())).not.toThrow()
    const bigHeaders = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`h${i}`, 'x'.repeat(60000)]))
    expectReason(() => encodeFrame(bigHeaders, new Uint8Array()), 'bad-length')
  })
})
