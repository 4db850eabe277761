import { expect, it } from 'vitest'
import { utf8Cached } from './utf8-cache'
import { bytesOf, rng } from '../../test/support/fixtures'

it('always returns the exact decoding, across slot collisions and near-identical strings', () => {
  const decoder = new TextDecoder()
  const strings: string[] = []
  // Same length, differing only in the last one or two bytes: many share a slot.
  for (let a = 0x21; a < 0x7f; a++) for (let b = 0x21; b < 0x7f; b += 7) strings.push(`contentBlockDel${String.fromCharCode(b)}${String.fromCharCode(a)}`)
  const r = rng(11)
  for (let i = 0; i < 2000; i++) strings.push(String.fromCodePoint(...Array.from({ length: Math.floor(r() * 70) }, () => 0x20 + Math.floor(r() * 0x800))))
  for (let round = 0; round < 2; round++)
    for (const s of strings) {
      const padded = new Uint8Array([9, 9, ...bytesOf(s), 9])
      expect(utf8Cached(padded, 2, padded.length - 3)).toBe(decoder.decode(padded.subarray(2, -1)))
    }
})

it('keeps its own copy: mutating the source bytes later never yields a stale string', () => {
  const r = rng(12)
  for (let trial = 0; trial < 3000; trial++) {
    const b = bytesOf('messageStart')
    expect(utf8Cached(b, 0, b.length)).toBe('messageStart')
    const x = Array.from({ length: 12 }, () => String.fromCharCode(0x61 + Math.floor(r() * 26))).join('')
    b.set(bytesOf(x)) // same length: if the cache kept a view of b, x would hit the 'messageStart' slot
    expect(utf8Cached(bytesOf(x), 0, 12)).toBe(x)
  }
})
