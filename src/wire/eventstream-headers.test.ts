import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeTypedFrame, EventStreamError, type HeaderValue } from './eventstream'
import { encodeHeaders, parseHeaders } from './eventstream-headers'

/** Every wire type with its exact encoding (name "a" = 0x61). */
const TABLE: [HeaderValue, number[]][] = [
  [{ type: 'boolean', value: true }, [1, 0x61, 0]],
  [{ type: 'boolean', value: false }, [1, 0x61, 1]],
  [{ type: 'byte', value: -2 }, [1, 0x61, 2, 0xfe]],
  [{ type: 'byte', value: 127 }, [1, 0x61, 2, 0x7f]],
  [{ type: 'short', value: -32768 }, [1, 0x61, 3, 0x80, 0x00]],
  [{ type: 'short', value: 258 }, [1, 0x61, 3, 0x01, 0x02]],
  [{ type: 'integer', value: -1 }, [1, 0x61, 4, 0xff, 0xff, 0xff, 0xff]],
  [{ type: 'integer', value: 0x01020304 }, [1, 0x61, 4, 1, 2, 3, 4]],
  [{ type: 'long', value: -(2n ** 63n) }, [1, 0x61, 5, 0x80, 0, 0, 0, 0, 0, 0, 0]],
  [{ type: 'long', value: 2n ** 63n - 1n }, [1, 0x61, 5, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  [{ type: 'long', value: 0x0102030405060708n }, [1, 0x61, 5, 1, 2, 3, 4, 5, 6, 7, 8]],
  [{ type: 'long', value: -2n }, [1, 0x61, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]],
  [{ type: 'binary', value: new Uint8Array([0, 255]) }, [1, 0x61, 6, 0, 2, 0, 255]],
  [{ type: 'binary', value: new Uint8Array(0) }, [1, 0x61, 6, 0, 0]],
  [{ type: 'string', value: 'é' }, [1, 0x61, 7, 0, 2, 0xc3, 0xa9]],
  [{ type: 'timestamp', value: new Date(1_700_000_000_123) }, [1, 0x61, 8, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b]],
  [{ type: 'timestamp', value: new Date(-1) }, [1, 0x61, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
  [
    { type: 'uuid', value: '00112233-4455-6677-8899-aabbccddeeff' },
    [1, 0x61, 9, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff],
  ],
]

describe('header values', () => {
  for (const [value, bytes] of TABLE) {
    const label = `${value.type} ${value.value instanceof Uint8Array ? `[${value.value}]` : String(value.value)}`
    it(`encodes ${label} exactly`, () => {
      expect(Array.from(encodeHeaders({ a: value }))).toEqual(bytes)
    })
    it(`decodes ${label}`, () => {
      expect(parseHeaders(Uint8Array.from(bytes), 0, bytes.length)).toEqual({ a: value })
    })
  }

  it('round-trips all 10 types through a frame, in order, next to :message-type', () => {
    const headers: Record<string, HeaderValue> = {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: 'everything' },
      t: { type: 'boolean', value: true },
      f: { type: 'boolean', value: false },
      b: { type: 'byte', value: -128 },
      s: { type: 'short', value: 32767 },
      i: { type: 'integer', value: -2147483648 },
      l: { type: 'long', value: -9007199254740993n },
      bin: { type: 'binary', value: new Uint8Array([1, 2, 3]) },
      str: { type: 'string', value: 'ünï ✓' },
      ts: { type: 'timestamp', value: new Date('2026-08-18T21:17:05.123Z') },
      u: { type: 'uuid', value: 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6' },
    }
    const f = decodeFrame(encodeTypedFrame(headers, new Uint8Array([42])))
    expect(Object.keys(f.headers)).toEqual(Object.keys(headers))
    expect(f.headers).toEqual(headers)
    expect(f.eventType).toBe('everything')
  })

  it('normalises uuids to lower case', () => {
    const f = decodeFrame(encodeTypedFrame({ ':message-type': { type: 'string', value: 'x' }, u: { type: 'uuid', value: 'F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6' } }, new Uint8Array()))
    expect(f.headers.u.value).toBe('f81d4fae-7dec-11d0-a765-00a0c91e6bf6')
  })

  const invalid: [string, HeaderValue][] = [
    ['byte 128', { type: 'byte', value: 128 }],
    ['byte 1.5', { type: 'byte', value: 1.5 }],
    ['short -32769', { type: 'short', value: -32769 }],
    ['integer 2^31', { type: 'integer', value: 2 ** 31 }],
    ['long 2^63', { type: 'long', value: 2n ** 63n }],
    ['timestamp Invalid Date', { type: 'timestamp', value: new Date(NaN) }],
    ['uuid without dashes', { type: 'uuid', value: '00112233445566778899aabbccddeeff' }],
    ['binary of 65536 bytes', { type: 'binary', value: new Uint8Array(65536) }],
  ]
  for (const [label, value] of invalid)
    it(`refuses to encode ${label}`, () => {
      expect(() => encodeHeaders({ a: value })).toThrow(EventStreamError)
    })
})
