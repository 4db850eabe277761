/**
 * A deterministic stand-in for Bedrock prompt caching (Converse `cachePoint` blocks, Anthropic `cache_control` on
 * InvokeModel). A request's breakpoints each end a prefix of the prompt. Reading: at each breakpoint, the prefix
 * itself or — as Claude's cache does — the prefix at any of the (up to LOOKBACK_BLOCKS) block boundaries before it,
 * if cached (same account, region and model, same bytes, not expired); the longest found is a cache read. The rest
 * of the prompt up to the last breakpoint is a cache write, split by the TTL of the breakpoint that ends each
 * segment. Every breakpoint's prefix is then cached (or refreshed) for its TTL (5 min, or 1 h) on the simulator
 * clock, so `advanceClock` expires entries. So a conversation that moves its breakpoint to the newest message each
 * turn reads the previous turn's prefix, on the deployment that wrote it and nowhere else. Unlike Claude there is
 * no minimum cacheable length: short test prompts cache too.
 */

/** How many block boundaries before a breakpoint are checked for a cached prefix (Claude: about 20). */
export const LOOKBACK_BLOCKS = 20

export type CacheTtl = '5m' | '1h'

/** A prefix of the prompt: serialised (the cache key, hashed here) and its input tokens. */
export interface Prefix {
  key: string
  tokens: number
}

export interface CachePoint extends Prefix {
  ttl: CacheTtl
  /** Prefixes at the block boundaries before this breakpoint, nearest first (at most LOOKBACK_BLOCKS). */
  lookback?: Prefix[]
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
  /** When expired entries were last dropped: at most once a second, not on every request (a sweep visits them all). */
  private sweptAt = Number.NEGATIVE_INFINITY

  constructor(private readonly now: () => number) {}

  /** Reads the longest cached prefix, writes the rest up to the last breakpoint; `scope` = account + region + model. */
  use(scope: string, points: CachePoint[]): CacheUsage {
    const now = this.now()
    if (now - this.sweptAt >= 1000 || now < this.sweptAt) {
      for (const [k, expires] of this.entries) if (expires <= now) this.entries.delete(k)
      this.sweptAt = now
    }
    const cached = (key: string) => (this.entries.get(key) ?? Number.NEGATIVE_INFINITY) > now
    // An entry is its bytes and its TTL: the same prefix asked for 1 h is not the 5 min entry.
    const keys = points.map((p) => `${scope}\n${p.ttl}\n${hash(p.key)}`)
    // The longest cached prefix: a breakpoint's own, else one at a boundary shortly before it.
    // `hit`: the last breakpoint wholly read from the cache (-1: none); `read`: tokens read.
    let hit = -1
    let read = 0
    search: for (let i = points.length - 1; i >= 0; i--) {
      if (cached(keys[i])) {
        hit = i
        read = points[i].tokens
        break
      }
      for (const p of (points[i].lookback ?? []).slice(0, LOOKBACK_BLOCKS)) {
        if (i > 0 && p.tokens <= points[i - 1].tokens) break // from here on the earlier breakpoint is checked itself
        if (cached(`${scope}\n${points[i].ttl}\n${hash(p.key)}`)) {
          hit = i - 1
          read = p.tokens
          break search
        }
      }
    }
    const usage: CacheUsage = { read, write: 0, write5m: 0, write1h: 0 }
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
    this.sweptAt = Number.NEGATIVE_INFINITY
  }
}
