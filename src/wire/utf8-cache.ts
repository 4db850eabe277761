/**
 * UTF-8 decoding of short byte ranges through a small direct-mapped cache, so that header names and values
 * that repeat on every frame (`:event-type`, `contentBlockDelta`, `application/json`, …) are not run through
 * TextDecoder each time. Bounded memory: 256 slots, strings up to 64 bytes; a collision just re-decodes.
 */

const decoder = new TextDecoder()
const SLOTS = 256
const MAX_CACHED_LEN = 64
const keys: (Uint8Array | undefined)[] = new Array(SLOTS).fill(undefined)
const values: string[] = new Array(SLOTS).fill('')

/** The string encoded as UTF-8 in `bytes[start, start + length)` (invalid sequences become U+FFFD). */
export function utf8Cached(bytes: Uint8Array, start: number, length: number): string {
  if (length === 0) return ''
  if (length > MAX_CACHED_LEN) return decoder.decode(bytes.subarray(start, start + length))
  let h = 0x811c9dc5 // FNV-1a
  const end = start + length
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193)
  const slot = (h ^ (h >>> 15)) & (SLOTS - 1)
  const key = keys[slot]
  if (key !== undefined && key.length === length) {
    let i = 0
    while (i < length && key[i] === bytes[start + i]) i++
    if (i === length) return values[slot]
  }
  const copy = bytes.slice(start, end)
  const s = decoder.decode(copy)
  keys[slot] = copy
  values[slot] = s
  return s
}
