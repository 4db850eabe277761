/**
 * A deterministic stand-in for Anthropic prompt caching on InvokeModel. A request's `cache_control` blocks are
 * breakpoints; the prompt up to each one is a prefix. The longest prefix cached (same region, model and bytes,
 * not expired) is a cache read; the rest of the prompt up to the last breakpoint is a cache write, split by the
 * TTL of the breakpoint that ends each segment. Every breakpoint's prefix is then cached (or refreshed) for its
 * TTL (5 min, or 1 h) on the simulator clock, so `advanceClock` expires entries. Unlike Claude there is no
 * minimum cacheable length: short test prompts cache too.
 */

export type CacheTtl = '5m' | '1h'

export interface CachePoint {
  /** The prompt up to and including this breakpoint, serialised (the cache key, hashed here). */
  key: string
  /** Input tokens of that prefix. */
  tokens: number
  ttl: CacheTtl
}

export interface CacheUsage {
  read: number
  write: number
  write5m: number
  write1h: number
}

const TTL_MS: Record<CacheTtl, number> = { '5m': 5 * 60_000, '1h': 60 * 60_000 }

/** cyrb53: a fast 53-bit string hash, so long prompts are not kept as map keys. */
function hash(s: string): string {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36) + ':' + s.length
}

export class PromptCache {
  /** scope + prefix hash → expiry (simulator clock, ms). */
  private entries = new Map<string, number>()

  constructor(private readonly now: () => number) {}

  /** Reads the longest cached prefix, writes the rest up to the last breakpoint; `scope` = region + model. */
  use(scope: string, points: CachePoint[]): CacheUsage {
    const now = this.now()
    for (const [k, expires] of this.entries) if (expires <= now) this.entries.delete(k)
    const keys = points.map((p) => `${scope}\n${hash(p.key)}`)
    let hit = -1
    for (let i = points.length - 1; i >= 0; i--) {
      if (this.entries.has(keys[i])) {
        hit = i
        break
      }
    }
    const usage: CacheUsage = { read: hit >= 0 ? points[hit].tokens : 0, write: 0, write5m: 0, write1h: 0 }
    let covered = usage.read
    for (let j = hit + 1; j < points.length; j++) {
      const segment = Math.max(0, points[j].tokens - covered)
      covered = Math.max(covered, points[j].tokens)
      usage.write += segment
      if (points[j].ttl === '1h') usage.write1h += segment
      else usage.write5m += segment
    }
    points.forEach((p, i) => this.entries.set(keys[i], now + TTL_MS[p.ttl]))
    return usage
  }

  clear(): void {
    this.entries.clear()
  }
}
