/** Size limits of the event-stream format (Smithy amazon-eventstream spec). */
export const PRELUDE_LENGTH = 12 // total_length, headers_length, prelude_crc
export const MIN_FRAME_LENGTH = 16 // prelude + message CRC
export const MAX_HEADERS_LENGTH = 128 * 1024 // 131,072
export const MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024 // 25,165,824
export const MAX_FRAME_LENGTH = MIN_FRAME_LENGTH + MAX_HEADERS_LENGTH + MAX_PAYLOAD_LENGTH
