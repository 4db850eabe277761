import type { Frame } from './eventstream'

export type EventStreamErrorReason =
  | 'prelude-crc' // CRC of bytes 0..8 does not match the prelude CRC field
  | 'message-crc' // CRC of bytes 0..total-4 does not match the trailing message CRC
  | 'truncated' // the stream ended inside a frame
  | 'bad-length' // total/headers/payload length out of range or inconsistent
  | 'bad-headers' // malformed header block, duplicate name, or missing/ill-typed :message-type etc.
  | 'closed' // input after end() or after an earlier error

/** Any failure to decode (or encode) an `application/vnd.amazon.eventstream` message. */
export class EventStreamError extends Error {
  override readonly name = 'EventStreamError'
  /**
   * Frames that the failing `push()` call had already decoded, in order, before it hit the error.
   * They are valid: a proxy may forward them before reporting the error.
   */
  frames: Frame[] = []

  constructor(
    readonly reason: EventStreamErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}
