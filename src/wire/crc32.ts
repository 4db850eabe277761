/**
 * CRC-32 (IEEE 802.3 / zlib; reflected polynomial 0xEDB88320; check value crc32("123456789") = 0xCBF43926),
 * table-driven slicing-by-8. Incremental: crc32(b, 0, n) === crc32(b, k, n, crc32(b, 0, k)).
 */

/** 8 tables of 256 entries, flat: T[k * 256 + n] = CRC of byte n followed by k zero bytes. */
const T = /* @__PURE__ */ buildTables()

function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8)
      t[k * 256 + n] = c
    }
  }
  return t
}

/**
 * CRC-32 of `bytes[start, end)`, continuing from `prev` (the CRC of the preceding bytes; 0 to start fresh).
 * Returns an unsigned 32-bit integer.
 */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, prev = 0): number {
  if (start < 0 || end > bytes.length || start > end) throw new RangeError(`crc32: bad range [${start}, ${end}) of ${bytes.length}`)
  const t = T
  let c = ~prev
  let i = start
  const end8 = end - 8
  while (i <= end8) {
    const a = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24))
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + bytes[i + 4]] ^
      t[512 + bytes[i + 5]] ^
      t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]]
    i += 8
  }
  while (i < end) c = t[(c ^ bytes[i++]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}
