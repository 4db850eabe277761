/**
 * `application/vnd.amazon.eventstream` decoding: an incremental framer for Bedrock's binary event stream.
 *
 * Frame: u32 total_length | u32 headers_length | u32 prelude_crc (CRC-32 of bytes 0..8) | headers | payload |
 *        u32 message_crc (CRC-32 of bytes 0..total-4). Big-endian. See docs/bedrock-wire.md §2.
 *
 * Hot path (one ~150-byte Bedrock frame): two CRC passes, one walk over the header block comparing the known
 * names (`:message-type`, `:event-type`, …) as bytes, cached decoding of their values. The full header record
 * (`frame.headers`) is built only when asked for. Frames that lie wholly inside one pushed chunk are views of it.
 */
import { crc32 } from './crc32'
import { EventStreamError } from './eventstream-error'
import { parseHeaders, VALUE_SIZE, type HeaderValue } from './eventstream-headers'
import { MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH, MIN_FRAME_LENGTH, PRELUDE_LENGTH } from './eventstream-limits'
import { utf8Cached } from './utf8-cache'

export { EventStreamError, type EventStreamErrorReason } from './eventstream-error'
export { HEADER_TYPE_BYTE, type HeaderType, type HeaderValue } from './eventstream-headers'
export { encodeErrorFrame, encodeEventFrame, encodeExceptionFrame, encodeFrame, encodeTypedFrame } from './eventstream-encode'
export * from './eventstream-limits'

/** One decoded event-stream message. */
export interface Frame {
  /** The whole frame (prelude … message CRC), for byte-identical pass-through. */
  readonly bytes: Uint8Array
  /** `:message-type`: 'event' | 'exception' | 'error' (other values are passed through as is). */
  readonly messageType: string
  /** `:event-type` (always set when messageType is 'event'), e.g. 'contentBlockDelta'. */
  readonly eventType?: string
  /** `:exception-type` (always set when messageType is 'exception'), e.g. 'throttlingException'. */
  readonly exceptionType?: string
  /** `:error-code` (always set when messageType is 'error'). */
  readonly errorCode?: string
  /** `:error-message`. */
  readonly errorMessage?: string
  /** `:content-type`, e.g. 'application/json'. */
  readonly contentType?: string
  /** All headers, in wire order (built on first access). */
  readonly headers: Record<string, HeaderValue>
  /** The payload bytes (a view of `bytes`). */
  readonly payload: Uint8Array
}

class DecodedFrame implements Frame {
  private parsedHeaders: Record<string, HeaderValue> | undefined = undefined
  private payloadView: Uint8Array | undefined = undefined
  constructor(
    readonly bytes: Uint8Array,
    private readonly headersLength: number,
    readonly messageType: string,
    readonly eventType: string | undefined,
    readonly exceptionType: string | undefined,
    readonly errorCode: string | undefined,
    readonly errorMessage: string | undefined,
    readonly contentType: string | undefined,
  ) {}
  get headers(): Record<string, HeaderValue> {
    return (this.parsedHeaders ??= parseHeaders(this.bytes, PRELUDE_LENGTH, PRELUDE_LENGTH + this.headersLength))
  }
  get payload(): Uint8Array {
    return (this.payloadView ??= this.bytes.subarray(PRELUDE_LENGTH + this.headersLength, this.bytes.length - 4))
  }
}

const u32 = (b: Uint8Array, p: number) => ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0
const hex = (n: number) => '0x' + n.toString(16).padStart(8, '0')
const where = (index: number, offset: number) => `frame #${index} (stream byte ${offset})`

// Known header names, compared as bytes.
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0))
const N_MESSAGE_TYPE = ascii(':message-type')
const N_CONTENT_TYPE = ascii(':content-type')
const N_EVENT_TYPE = ascii(':event-type')
const N_ERROR_CODE = ascii(':error-code')
const N_ERROR_MESSAGE = ascii(':error-message')
const N_EXCEPTION_TYPE = ascii(':exception-type')
const K_NONE = 0, K_MESSAGE_TYPE = 1, K_CONTENT_TYPE = 2, K_EVENT_TYPE = 3, K_ERROR_CODE = 4, K_ERROR_MESSAGE = 5, K_EXCEPTION_TYPE = 6

function sameBytes(b: Uint8Array, p: number, lit: Uint8Array): boolean {
  for (let i = 1; i < lit.length; i++) if (b[p + i] !== lit[i]) return false // lit[0] (':') already matched
  return true
}

function knownName(b: Uint8Array, p: number, len: number): number {
  if (b[p] !== 0x3a) return K_NONE
  switch (len) {
    case 11:
      return sameBytes(b, p, N_EVENT_TYPE) ? K_EVENT_TYPE : sameBytes(b, p, N_ERROR_CODE) ? K_ERROR_CODE : K_NONE
    case 13:
      return sameBytes(b, p, N_MESSAGE_TYPE) ? K_MESSAGE_TYPE : sameBytes(b, p, N_CONTENT_TYPE) ? K_CONTENT_TYPE : K_NONE
    case 14:
      return sameBytes(b, p, N_ERROR_MESSAGE) ? K_ERROR_MESSAGE : K_NONE
    case 15:
      return sameBytes(b, p, N_EXCEPTION_TYPE) ? K_EXCEPTION_TYPE : K_NONE
  }
  return K_NONE
}

// Duplicate-name detection: pairwise byte comparison for the first few names, a Set beyond that.
const PAIRWISE_MAX = 16
const nameStarts = new Int32Array(PAIRWISE_MAX)
const latin1 = (b: Uint8Array, p: number, len: number) => String.fromCharCode.apply(null, b.subarray(p, p + len) as unknown as number[])

function equalRanges(b: Uint8Array, p: number, q: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[p + i] !== b[q + i]) return false
  return true
}

function badHeaders(index: number, offset: number, what: string): EventStreamError {
  return new EventStreamError('bad-headers', `${where(index, offset)}: ${what}`)
}

/**
 * Checks a complete frame's message CRC and header block and returns the Frame.
 * Prelude (lengths, prelude CRC) must already have been validated; `preludeCrc` is its value.
 */
function decodeChecked(bytes: Uint8Array, headersLength: number, preludeCrc: number, index: number, offset: number): Frame {
  const total = bytes.length
  const expected = u32(bytes, total - 4)
  const actual = crc32(bytes, 8, total - 4, preludeCrc)
  if (actual !== expected)
    throw new EventStreamError('message-crc', `${where(index, offset)}: message CRC mismatch (computed ${hex(actual)}, frame says ${hex(expected)})`)

  let messageType: string | undefined, eventType: string | undefined, exceptionType: string | undefined
  let errorCode: string | undefined, errorMessage: string | undefined, contentType: string | undefined
  let names: Set<string> | undefined
  let count = 0
  const end = PRELUDE_LENGTH + headersLength
  let p = PRELUDE_LENGTH
  while (p < end) {
    const nameLen = bytes[p]
    const nameStart = p + 1
    if (nameLen === 0) throw badHeaders(index, offset, `header ${count} has an empty name`)
    p = nameStart + nameLen
    if (p >= end) throw badHeaders(index, offset, `header ${count} runs past the header block`)
    const type = bytes[p++]
    let valueLen = VALUE_SIZE[type]
    if (valueLen === undefined) throw badHeaders(index, offset, `header "${latin1(bytes, nameStart, nameLen)}" has unknown value type ${type}`)
    if (valueLen < 0) {
      if (p + 2 > end) throw badHeaders(index, offset, `header "${latin1(bytes, nameStart, nameLen)}" runs past the header block`)
      valueLen = (bytes[p] << 8) | bytes[p + 1]
      p += 2
    }
    const valueStart = p
    p += valueLen
    if (p > end) throw badHeaders(index, offset, `header "${latin1(bytes, nameStart, nameLen)}" runs past the header block`)

    if (count < PAIRWISE_MAX) {
      for (let j = 0; j < count; j++) {
        const q = nameStarts[j]
        if (bytes[q - 1] === nameLen && equalRanges(bytes, q, nameStart, nameLen))
          throw badHeaders(index, offset, `duplicate header "${utf8Cached(bytes, nameStart, nameLen)}"`)
      }
      nameStarts[count] = nameStart
    } else {
      if (names === undefined) {
        names = new Set()
        for (let j = 0; j < PAIRWISE_MAX; j++) names.add(latin1(bytes, nameStarts[j], bytes[nameStarts[j] - 1]))
      }
      const key = latin1(bytes, nameStart, nameLen)
      if (names.has(key)) throw badHeaders(index, offset, `duplicate header "${utf8Cached(bytes, nameStart, nameLen)}"`)
      names.add(key)
    }
    count++

    const kind = knownName(bytes, nameStart, nameLen)
    if (kind !== K_NONE) {
      if (type !== 7) throw badHeaders(index, offset, `header "${latin1(bytes, nameStart, nameLen)}" must be a string, has type ${type}`)
      const value = utf8Cached(bytes, valueStart, valueLen)
      if (kind === K_MESSAGE_TYPE) messageType = value
      else if (kind === K_EVENT_TYPE) eventType = value
      else if (kind === K_CONTENT_TYPE) contentType = value
      else if (kind === K_EXCEPTION_TYPE) exceptionType = value
      else if (kind === K_ERROR_CODE) errorCode = value
      else errorMessage = value
    }
  }

  if (messageType === undefined) throw badHeaders(index, offset, 'missing :message-type header')
  if (messageType === 'event' ? eventType === undefined : messageType === 'exception' ? exceptionType === undefined : messageType === 'error' && errorCode === undefined)
    throw badHeaders(index, offset, `:message-type "${messageType}" without its ${messageType === 'event' ? ':event-type' : messageType === 'exception' ? ':exception-type' : ':error-code'} header`)
  return new DecodedFrame(bytes, headersLength, messageType, eventType, exceptionType, errorCode, errorMessage, contentType)
}

/** Validates the 12-byte prelude at `b[p..]` (CRC first, then lengths); writes total, headers_length and prelude CRC to `out`. */
function checkPrelude(b: Uint8Array, p: number, index: number, offset: number, out: { total: number; headersLength: number; preludeCrc: number }): void {
  const total = u32(b, p)
  const headersLength = u32(b, p + 4)
  const expected = u32(b, p + 8)
  const actual = crc32(b, p, p + 8)
  if (actual !== expected)
    throw new EventStreamError('prelude-crc', `${where(index, offset)}: prelude CRC mismatch (computed ${hex(actual)}, frame says ${hex(expected)})`)
  let problem = ''
  if (total < MIN_FRAME_LENGTH) problem = `total length below the minimum of ${MIN_FRAME_LENGTH}`
  else if (headersLength > MAX_HEADERS_LENGTH) problem = `header block larger than ${MAX_HEADERS_LENGTH} bytes`
  else if (headersLength > total - MIN_FRAME_LENGTH) problem = 'header block longer than the frame'
  else if (total - MIN_FRAME_LENGTH - headersLength > MAX_PAYLOAD_LENGTH) problem = `payload larger than ${MAX_PAYLOAD_LENGTH} bytes`
  if (problem !== '')
    throw new EventStreamError('bad-length', `${where(index, offset)}: ${problem} (total_length ${total}, headers_length ${headersLength})`)
  out.total = total
  out.headersLength = headersLength
  out.preludeCrc = actual
}

/**
 * Decodes exactly one complete frame (the whole of `bytes`). Throws EventStreamError like the framer,
 * plus 'bad-length' if `bytes` is not exactly one frame long. The Frame is a view of `bytes`.
 */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < PRELUDE_LENGTH) throw new EventStreamError('truncated', `${bytes.length} bytes is shorter than a prelude`)
  const pre = { total: 0, headersLength: 0, preludeCrc: 0 }
  checkPrelude(bytes, 0, 0, 0, pre)
  if (pre.total !== bytes.length) throw new EventStreamError('bad-length', `frame says ${pre.total} bytes, got ${bytes.length}`)
  return decodeChecked(bytes, pre.headersLength, pre.preludeCrc, 0, 0)
}

/**
 * Incremental framer. Feed network chunks to `push()`; it returns every frame completed by the chunk.
 * Chunks may split frames anywhere. Call `end()` when the stream ends; it throws 'truncated' if a frame was
 * left incomplete. After any error the framer is dead: further push()/end() throw reason 'closed'.
 */
export class EventStreamFramer {
  private readonly head = new Uint8Array(PRELUDE_LENGTH) // partial prelude (fewer than 12 bytes known)
  private headLength = 0
  private body: Uint8Array | null = null // partial frame (prelude validated, length known)
  private bodyLength = 0
  private readonly prelude = { total: 0, headersLength: 0, preludeCrc: 0 }
  private offset = 0 // stream offset of the next frame's first byte
  private index = 0 // number of frames decoded so far
  private failure: Error | null = null
  private ended = false

  /** Frames decoded so far. */
  get frameCount(): number {
    return this.index
  }

  /** Bytes of an incomplete frame currently buffered. */
  get bufferedBytes(): number {
    return this.headLength + (this.body === null ? 0 : this.bodyLength)
  }

  push(chunk: Uint8Array): Frame[] {
    this.assertOpen()
    const out: Frame[] = []
    try {
      this.consume(chunk, out)
    } catch (e) {
      this.failure = e as Error
      if (e instanceof EventStreamError) e.frames = out
      throw e
    }
    return out
  }

  /** Signals the end of the stream. Throws EventStreamError 'truncated' if an incomplete frame remains. */
  end(): void {
    if (this.ended) return
    this.assertOpen()
    this.ended = true
    if (this.bufferedBytes > 0) {
      const of = this.body === null ? 'a 12-byte prelude' : `${this.prelude.total} bytes`
      this.failure = new EventStreamError('truncated', `stream ended inside ${where(this.index, this.offset)}: got ${this.bufferedBytes} of ${of}`)
      throw this.failure
    }
  }

  private assertOpen(): void {
    if (this.failure !== null) throw new EventStreamError('closed', `event stream already failed: ${this.failure.message}`, { cause: this.failure })
    if (this.ended) throw new EventStreamError('closed', 'event stream already ended')
  }

  private emit(bytes: Uint8Array, out: Frame[]): void {
    out.push(decodeChecked(bytes, this.prelude.headersLength, this.prelude.preludeCrc, this.index, this.offset))
    this.index++
    this.offset += bytes.length
  }

  private consume(chunk: Uint8Array, out: Frame[]): void {
    const n = chunk.length
    let i = 0
    if (this.headLength > 0) {
      const take = Math.min(PRELUDE_LENGTH - this.headLength, n)
      this.head.set(chunk.subarray(0, take), this.headLength)
      this.headLength += take
      i = take
      if (this.headLength < PRELUDE_LENGTH) return
      checkPrelude(this.head, 0, this.index, this.offset, this.prelude)
      this.body = new Uint8Array(this.prelude.total)
      this.body.set(this.head)
      this.bodyLength = PRELUDE_LENGTH
      this.headLength = 0
    }
    if (this.body !== null) {
      const take = Math.min(this.prelude.total - this.bodyLength, n - i)
      this.body.set(chunk.subarray(i, i + take), this.bodyLength)
      this.bodyLength += take
      i += take
      if (this.bodyLength < this.prelude.total) return
      const body = this.body
      this.body = null
      this.emit(body, out)
    }
    while (n - i >= PRELUDE_LENGTH) {
      checkPrelude(chunk, i, this.index, this.offset, this.prelude)
      const total = this.prelude.total
      if (n - i < total) {
        this.body = new Uint8Array(total)
        this.body.set(chunk.subarray(i))
        this.bodyLength = n - i
        return
      }
      this.emit(chunk.subarray(i, i + total), out)
      i += total
    }
    if (i < n) {
      this.head.set(chunk.subarray(i))
      this.headLength = n - i
    }
  }
}
