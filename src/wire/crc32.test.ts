import { describe, expect, it } from 'vitest'
import { crc32 } from './crc32'
import { bytesOf, rng } from '../../test/support/fixtures'

/** Bit-at-a-time reference CRC-32 (IEEE, reflected 0xEDB88320). */
function crc32Reference(b: Uint8Array): number {
  let c = 0xffffffff
  for (const x of b) {
    c ^= x
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

describe('crc32', () => {
  it('has the standard check value and known vectors', () => {
    expect(crc32(bytesOf('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array(0))).toBe(0)
    expect(crc32(bytesOf('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339)
    expect(crc32(new Uint8Array(32))).toBe(0x190a55ad)
    expect(crc32(new Uint8Array(32).fill(0xff))).toBe(0xff6cab0b)
  })

  it('matches a bit-at-a-time reference on random data of every length 0..300', () => {
    const r = rng(1)
    for (let n = 0; n <= 300; n++) {
      const b = Uint8Array.from({ length: n }, () => (r() * 256) | 0)
      expect(crc32(b)).toBe(crc32Reference(b))
    }
  })

  it('honours start/end, including on subarray views', () => {
    const r = rng(2)
    const b = Uint8Array.from({ length: 200 }, () => (r() * 256) | 0)
    for (let k = 0; k < 200; k++) {
      const s = (r() * 200) | 0
      const e = s + ((r() * (200 - s)) | 0)
      expect(crc32(b, s, e)).toBe(crc32Reference(b.slice(s, e)))
      const view = b.subarray(s)
      expect(crc32(view, 0, e - s)).toBe(crc32Reference(b.slice(s, e)))
    }
  })

  it('is incremental: crc(0..n) == crc(k..n, prev = crc(0..k)) for every k', () => {
    const r = rng(3)
    const b = Uint8Array.from({ length: 97 }, () => (r() * 256) | 0)
    const whole = crc32(b)
    for (let k = 0; k <= b.length; k++) expect(crc32(b, k, b.length, crc32(b, 0, k))).toBe(whole)
  })

  it('rejects an out-of-range span', () => {
    const b = new Uint8Array(4)
    expect(() => crc32(b, 0, 5)).toThrow(RangeError)
    expect(() => crc32(b, 3, 2)).toThrow(RangeError)
    expect(() => crc32(b, -1, 2)).toThrow(RangeError)
  })
})
