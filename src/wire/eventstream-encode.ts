/** Encoding of whole event-stream messages (frames). */
import { crc32 } from './crc32'
import { EventStreamError } from './eventstream-error'
import { encodeHeaders, type HeaderValue } from './eventstream-headers'
import { MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH } from './eventstream-limits'

const encoder = new TextEncoder()

function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24
  b[p + 1] = (v >>> 16) & 0xff
  b[p + 2] = (v >>> 8) & 0xff
  b[p + 3] = v & 0xff
}

/** Assembles prelude + header block + payload + both CRCs. */
export function encodeFrameRaw(headerBlock: Uint8Array, payload: Uint8Array): Uint8Array {
  if (headerBlock.length > MAX_HEADERS_LENGTH) throw new EventStreamError('bad-length', `header block is ${headerBlock.length} bytes, max ${MAX_HEADERS_LENGTH}`)
  if (payload.length > MAX_PAYLOAD_LENGTH) throw new EventStreamError('bad-length', `payload is ${payload.length} bytes, max ${MAX_PAYLOAD_LENGTH}`)
  const total = 16 + headerBlock.length + payload.length
  const out = new Uint8Array(total)
  writeU32(out, 0, total)
  writeU32(out, 4, headerBlock.length)
  const preludeCrc = crc32(out, 0, 8)
  writeU32(out, 8, preludeCrc)
  out.set(headerBlock, 12)
  out.set(payload, 12 + headerBlock.length)
  writeU32(out, total - 4, crc32(out, 8, total - 4, preludeCrc))
  return out
}

/** Encodes a frame whose headers may be of any of the 10 types (in the record's key order). */
export function encodeTypedFrame(headers: Record<string, HeaderValue>, payload: Uint8Array): Uint8Array {
  return encodeFrameRaw(encodeHeaders(headers), payload)
}

/** Encodes a frame with string (type 7) headers, in the record's key order (JS puts integer-like keys such as "1" first). */
export function encodeFrame(headers: Record<string, string>, payload: Uint8Array): Uint8Array {
  const typed: Record<string, HeaderValue> = Object.create(null)
  for (const name of Object.keys(headers)) typed[name] = { type: 'string', value: headers[name] }
  return encodeTypedFrame(typed, payload)
}

/**
 * An event frame exactly as Bedrock lays it out: `:event-type`, `:content-type: application/json`,
 * `:message-type: event`, payload = the bare event JSON (e.g. `{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}`).
 */
export function encodeEventFrame(eventType: string, payloadJson: string): Uint8Array {
  return encodeFrame(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    encoder.encode(payloadJson),
  )
}

/**
 * An in-stream modeled exception: `:exception-type` (lowerCamel union member, e.g. `throttlingException`),
 * `:content-type: application/json`, `:message-type: exception`; payload `{"message":…, …extra}`.
 */
export function encodeExceptionFrame(exceptionType: string, message: string, extra?: object): Uint8Array {
  const body = Object.assign({ message }, extra, { message })
  return encodeFrame(
    { ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' },
    encoder.encode(JSON.stringify(body)),
  )
}

/** An unmodeled error frame: `:message-type: error`, `:error-code`, `:error-message`, empty payload. */
export function encodeErrorFrame(errorCode: string, errorMessage: string): Uint8Array {
  return encodeFrame({ ':message-type': 'error', ':error-code': errorCode, ':error-message': errorMessage }, new Uint8Array(0))
}
