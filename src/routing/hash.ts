/**
 * A 53-bit string hash (cyrb53's mixing), for keys that must be short and well spread but need not resist an
 * attacker: prompt-prefix keys (cache-keys.ts), config fingerprints (state/pool-ref.ts).
 */
/** A running 53-bit hash (cyrb53's mixing), whose value can be read at any point without ending it. */
export class PrefixHash {
  private h1 = 0xdeadbeef
  private h2 = 0x41c6ce57
  private length = 0

  add(s: string): void {
    let h1 = this.h1
    let h2 = this.h2
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 2654435761)
      h2 = Math.imul(h2 ^ c, 1597334677)
    }
    this.h1 = h1
    this.h2 = h2
    this.length += s.length
  }

  value(): string {
    let h1 = Math.imul(this.h1 ^ (this.h1 >>> 16), 2246822507) ^ Math.imul(this.h2 ^ (this.h2 >>> 13), 3266489909)
    const h2 = Math.imul(this.h2 ^ (this.h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    h1 = h1 >>> 0
    return `p${(4294967296 * (2097151 & h2) + h1).toString(36)}.${this.length.toString(36)}`
  }
}

/** The hash of one text. */
export function hash53(text: string): string {
  const h = new PrefixHash()
  h.add(text)
  return h.value()
}
