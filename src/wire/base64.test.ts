import { describe, expect, it } from 'vitest'
import { base64ToBytes, base64ToBytesPortable, base64ToUtf8, bytesToBase64, utf8ToBase64 } from './base64'

describe('base64', () => {
  const decoders = { runtime: base64ToBytes, portable: base64ToBytesPortable }

  for (const [name, decode] of Object.entries(decoders)) {
    it(`${name}: decodes what bytesToBase64 encodes, at every length and byte value`, () => {
      for (let n = 0; n < 70; n++) {
        const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n * 11) & 0xff)
        expect(decode(bytesToBase64(bytes))).toEqual(bytes)
      }
      const all = Uint8Array.from({ length: 256 }, (_, i) => i)
      expect(decode(bytesToBase64(all))).toEqual(all)
    })

    it(`${name}: takes what atob takes (no padding, whitespace) and refuses what it refuses`, () => {
      expect([...decode('YQ')]).toEqual([97])
      expect([...decode('YWJj\nZA==')]).toEqual([97, 98, 99, 100])
      for (const bad of ['Y', 'YQ=x', '$$$$', 'YW-j']) expect(() => decode(bad)).toThrow()
    })
  }

  it('the runtime decoder and the portable one agree on random input', () => {
    let seed = 7
    for (let k = 0; k < 200; k++) {
      const bytes = Uint8Array.from({ length: k % 97 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff)
      const b64 = bytesToBase64(bytes)
      expect(base64ToBytes(b64)).toEqual(base64ToBytesPortable(b64))
    }
  })

  it('round-trips UTF-8 text (what InvokeModel stream chunks carry)', () => {
    const text = '{"type":"content_block_delta","delta":{"text":"naïve — 日本語 🚀"}}'
    expect(base64ToUtf8(utf8ToBase64(text))).toBe(text)
  })
})
