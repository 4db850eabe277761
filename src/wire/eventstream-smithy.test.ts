/** Cross-check against the AWS SDK's own codec (@smithy/eventstream-codec). */
import { EventStreamCodec, Int64 } from '@smithy/eventstream-codec'
import type { MessageHeaders, MessageHeaderValue } from '@smithy/types'
import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeEventFrame, encodeExceptionFrame, encodeFrame, encodeTypedFrame, EventStreamFramer, type HeaderValue } from './eventstream'
import { FIXTURES, rng, utf8 } from '../../test/support/fixtures'

const codec = new EventStreamCodec(
  (b: Uint8Array) => new TextDecoder().decode(b),
  (s: string) => new TextEncoder().encode(s),
)

function int64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigInt64(0, v)
  return b
}

function toSmithy(h: HeaderValue): MessageHeaderValue {
  if (h.type === 'long') return { type: 'long', value: new Int64(int64Bytes(h.value)) }
  return h as MessageHeaderValue
}

function fromSmithy(h: MessageHeaderValue): HeaderValue {
  if (h.type === 'long') return { type: 'long', value: new DataView(h.value.bytes.buffer, h.value.bytes.byteOffset).getBigInt64(0) }
  if (h.type === 'binary') return { type: 'binary', value: Uint8Array.from(h.value) }
  return h as HeaderValue
}

const mapValues = <A, B>(o: Record<string, A>, f: (a: A) => B) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]))

/** Random headers of every type (always with :message-type so our framer accepts the frame). */
function randomHeaders(r: () => number): Record<string, HeaderValue> {
  const int = (bits: number) => Math.floor(r() * 2 ** bits) - 2 ** (bits - 1)
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
  const hex = (n: number) => Array.from(bytes(n), (x) => x.toString(16).padStart(2, '0')).join('')
  const out: Record<string, HeaderValue> = { ':message-type': { type: 'string', value: 'event' }, ':event-type': { type: 'string', value: `e${int(8)}` } }
  const n = Math.floor(r() * 12)
  for (let i = 0; i < n; i++) {
    const name = `h${i}-${'x'.repeat(Math.floor(r() * 20))}`
    switch (Math.floor(r() * 9)) {
      case 0: out[name] = { type: 'boolean', value: r() < 0.5 }; break
      case 1: out[name] = { type: 'byte', value: int(8) }; break
      case 2: out[name] = { type: 'short', value: int(16) }; break
      case 3: out[name] = { type: 'integer', value: int(32) }; break
      case 4: out[name] = { type: 'long', value: new DataView(bytes(8).buffer).getBigInt64(0) }; break
      case 5: out[name] = { type: 'binary', value: bytes(Math.floor(r() * 40)) }; break
      case 6: out[name] = { type: 'string', value: String.fromCodePoint(...Array.from({ length: Math.floor(r() * 10) }, () => 0x20 + Math.floor(r() * 0x3000))) }; break
      case 7: out[name] = { type: 'timestamp', value: new Date(Math.floor(r() * 4e12) - 2e12) }; break
      default: out[name] = { type: 'uuid', value: `${hex(4)}-${hex(2)}-${hex(2)}-${hex(2)}-${hex(6)}` }
    }
  }
  return out
}

describe('cross-check with @smithy/eventstream-codec', () => {
  it('smithy decodes every real capture frame as we do', () => {
    for (const fx of FIXTURES) {
      const framer = new EventStreamFramer()
      for (const f of framer.push(fx.bytes)) {
        const m = codec.decode(f.bytes)
        expect(mapValues(m.headers, fromSmithy)).toEqual({ ...f.headers })
        expect(utf8(m.body)).toBe(utf8(f.payload))
      }
      framer.end()
    }
  })

  it('smithy decodes our event, exception and string-header frames', () => {
    const e = codec.decode(encodeEventFrame('contentBlockDelta', '{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}'))
    expect(e.headers).toEqual({
      ':event-type': { type: 'string', value: 'contentBlockDelta' },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    })
    expect(utf8(e.body)).toBe('{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}')
    const x = codec.decode(encodeExceptionFrame('throttlingException', 'slow down'))
    expect(x.headers[':exception-type']).toEqual({ type: 'string', value: 'throttlingException' })
    expect(x.headers[':message-type']).toEqual({ type: 'string', value: 'exception' })
    expect(JSON.parse(utf8(x.body))).toEqual({ message: 'slow down' })
    const s = codec.decode(encodeFrame({ a: 'ü', b: '' }, new Uint8Array([1, 2])))
    expect(s.headers).toEqual({ a: { type: 'string', value: 'ü' }, b: { type: 'string', value: '' } })
  })

  it('random headers of all types: identical bytes both ways, and each decodes the other', () => {
    const r = rng(99)
    for (let round = 0; round < 300; round++) {
      const headers = randomHeaders(r)
      const body = Uint8Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256))
      const ours = encodeTypedFrame(headers, body)
      const theirs = codec.encode({ headers: mapValues(headers, toSmithy) as MessageHeaders, body })
      expect(Array.from(ours), `round ${round}`).toEqual(Array.from(theirs))

      const decodedBySmithy = codec.decode(ours)
      expect(mapValues(decodedBySmithy.headers, fromSmithy)).toEqual(headers)
      expect(Array.from(decodedBySmithy.body)).toEqual(Array.from(body))

      const decodedByUs = decodeFrame(theirs)
      expect({ ...decodedByUs.headers }).toEqual(headers)
      expect(Array.from(decodedByUs.payload)).toEqual(Array.from(body))
    }
  })

  it('smithy rejects what we reject: corrupted CRCs', () => {
    const good = encodeEventFrame('x', '{}')
    for (const p of [0, 9, 20, good.length - 1]) {
      const bad = good.slice()
      bad[p] ^= 0x10
      expect(() => codec.decode(bad)).toThrow()
      expect(() => decodeFrame(bad)).toThrow()
    }
  })
})
