/**
 * Event-stream header values: the 10 wire types, full (lazy) parsing of a header block, and encoding.
 *
 * Wire form of one header: u8 name_len (≥ 1) | name (UTF-8) | u8 type | value, where value is
 *   0 true, 1 false (no bytes) · 2 int8 · 3 int16 · 4 int32 · 5 int64 · 6 u16 len + bytes · 7 u16 len + UTF-8 ·
 *   8 int64 ms since epoch · 9 16-byte UUID. All integers big-endian.
 */
import { EventStreamError } from './eventstream-error'
import { utf8Cached } from './utf8-cache'

/** A decoded header value. Type names match `@smithy/eventstream-codec`; `long` is a bigint here. */
export type HeaderValue =
  | { type: 'boolean'; value: boolean }
  | { type: 'byte'; value: number }
  | { type: 'short'; value: number }
  | { type: 'integer'; value: number }
  | { type: 'long'; value: bigint }
  | { type: 'binary'; value: Uint8Array }
  | { type: 'string'; value: string }
  | { type: 'timestamp'; value: Date }
  | { type: 'uuid'; value: string }

export type HeaderType = HeaderValue['type']

/** Wire type byte of each header type (`boolean` is 0 for true, 1 for false). */
export const HEADER_TYPE_BYTE = {
  boolean: 0,
  byte: 2,
  short: 3,
  integer: 4,
  long: 5,
  binary: 6,
  string: 7,
  timestamp: 8,
  uuid: 9,
} as const satisfies Record<HeaderType, number>

/** Fixed value size per type byte; -1 = u16 length prefix follows; undefined = unknown type. */
export const VALUE_SIZE: readonly number[] = [0, 0, 1, 2, 4, 8, -1, -1, 8, 16]

function int64At(b: Uint8Array, p: number): bigint {
  const hi = (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3] // signed
  const lo = ((b[p + 4] << 24) | (b[p + 5] << 16) | (b[p + 6] << 8) | b[p + 7]) >>> 0
  return (BigInt(hi) << 32n) + BigInt(lo)
}

function uuidAt(b: Uint8Array, p: number): string {
  let hex = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) hex += '-'
    hex += (b[p + i] < 16 ? '0' : '') + b[p + i].toString(16)
  }
  return hex
}

/**
 * Parses the header block `bytes[start, end)` into a name → value record (null prototype, wire order).
 * Assumes the block was already validated by the framer (see eventstream.ts); still throws on malformed input.
 * Binary values are views into `bytes`.
 */
export function parseHeaders(bytes: Uint8Array, start: number, end: number): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = Object.create(null)
  let p = start
  while (p < end) {
    const nameLen = bytes[p]
    const name = utf8Cached(bytes, p + 1, nameLen)
    p += 1 + nameLen
    const t = bytes[p++]
    let v: HeaderValue
    switch (t) {
      case 0:
      case 1:
        v = { type: 'boolean', value: t === 0 }
        break
      case 2:
        v = { type: 'byte', value: (bytes[p] << 24) >> 24 }
        break
      case 3:
        v = { type: 'short', value: (((bytes[p] << 8) | bytes[p + 1]) << 16) >> 16 }
        break
      case 4:
        v = { type: 'integer', value: (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3] }
        break
      case 5:
        v = { type: 'long', value: int64At(bytes, p) }
        break
      case 6:
        v = { type: 'binary', value: bytes.subarray(p + 2, p + 2 + ((bytes[p] << 8) | bytes[p + 1])) }
        break
      case 7:
        v = { type: 'string', value: utf8Cached(bytes, p + 2, (bytes[p] << 8) | bytes[p + 1]) }
        break
      case 8:
        v = { type: 'timestamp', value: new Date(Number(int64At(bytes, p))) }
        break
      case 9:
        v = { type: 'uuid', value: uuidAt(bytes, p) }
        break
      default:
        throw new EventStreamError('bad-headers', `unknown header value type ${t} for header "${name}"`)
    }
    const size = VALUE_SIZE[t]
    p += size >= 0 ? size : 2 + ((bytes[p] << 8) | bytes[p + 1])
    if (p > end) throw new EventStreamError('bad-headers', `header "${name}" runs past the header block`)
    out[name] = v
  }
  return out
}

const encoder = new TextEncoder()
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function badValue(name: string, what: string): EventStreamError {
  return new EventStreamError('bad-headers', `header "${name}": ${what}`)
}

function intInRange(name: string, v: number, bits: number): number {
  const lim = 2 ** (bits - 1)
  if (!Number.isInteger(v) || v < -lim || v >= lim) throw badValue(name, `${v} is not an int${bits}`)
  return v
}

/** Encodes one header (name + type + value) as wire bytes. */
function encodeHeader(name: string, h: HeaderValue): Uint8Array {
  const nameBytes = encoder.encode(name)
  if (nameBytes.length < 1 || nameBytes.length > 255) throw badValue(name, `name must be 1..255 UTF-8 bytes, got ${nameBytes.length}`)
  let value: Uint8Array
  const dv = () => new DataView(value.buffer)
  switch (h.type) {
    case 'boolean':
      value = new Uint8Array(0)
      break
    case 'byte':
      value = new Uint8Array(1)
      dv().setInt8(0, intInRange(name, h.value, 8))
      break
    case 'short':
      value = new Uint8Array(2)
      dv().setInt16(0, intInRange(name, h.value, 16))
      break
    case 'integer':
      value = new Uint8Array(4)
      dv().setInt32(0, intInRange(name, h.value, 32))
      break
    case 'long':
      if (typeof h.value !== 'bigint' || h.value < INT64_MIN || h.value > INT64_MAX) throw badValue(name, `${h.value} is not an int64`)
      value = new Uint8Array(8)
      dv().setBigInt64(0, h.value)
      break
    case 'timestamp': {
      const ms = h.value.getTime()
      if (!Number.isSafeInteger(ms)) throw badValue(name, 'invalid Date')
      value = new Uint8Array(8)
      dv().setBigInt64(0, BigInt(ms))
      break
    }
    case 'uuid':
      if (!UUID_RE.test(h.value)) throw badValue(name, `"${h.value}" is not a UUID`)
      value = new Uint8Array(16)
      for (let i = 0, hex = h.value.replace(/-/g, ''); i < 16; i++) value[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
      break
    case 'binary':
    case 'string': {
      const data = h.type === 'string' ? encoder.encode(h.value) : h.value
      if (data.length > 0xffff) throw badValue(name, `value is ${data.length} bytes, max 65535`)
      value = new Uint8Array(2 + data.length)
      value[0] = data.length >>> 8
      value[1] = data.length & 0xff
      value.set(data, 2)
      break
    }
    default:
      throw badValue(name, `unknown header type ${(h as { type: unknown }).type}`)
  }
  const out = new Uint8Array(2 + nameBytes.length + value.length)
  out[0] = nameBytes.length
  out.set(nameBytes, 1)
  out[1 + nameBytes.length] = h.type === 'boolean' ? (h.value ? 0 : 1) : HEADER_TYPE_BYTE[h.type]
  out.set(value, 2 + nameBytes.length)
  return out
}

/** Encodes a header block, in the record's key order. */
export function encodeHeaders(headers: Record<string, HeaderValue>): Uint8Array {
  const parts: Uint8Array[] = []
  let size = 0
  for (const name of Object.keys(headers)) {
    const part = encodeHeader(name, headers[name])
    parts.push(part)
    size += part.length
  }
  const out = new Uint8Array(size)
  let p = 0
  for (const part of parts) {
    out.set(part, p)
    p += part.length
  }
  return out
}
