import { expect, it } from 'vitest'
import { utf8Cached } from './utf8-cache'
import { bytesOf, rng } from './testing/fixtures'

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

it('is not affected by later changes to the source bytes', () => {
  const b = bytesOf('messageStart')
  expect(utf8Cached(b, 0, b.length)).toBe('messageStart')
  b[0] = 0x4d // 'M'
  expect(utf8Cached(b, 0, b.length)).toBe('MessageStart')
})
