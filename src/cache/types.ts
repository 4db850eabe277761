/**
 * The response cache (opt-in per pool, `cache: { ttlSeconds }`): exact-match answers kept for a while, so an identical
 * request costs nothing. One small interface, three backends: the Workers Cache API, Deno KV, and memory.
 */

/** What is kept of a clean answer (never an error, never a partial stream). */
export type CachedAnswer =
  | { kind: 'converse'; body: string; contentType?: string; deployment: string; storedAt: number }
  /** A stream: its event frames' bytes, base64, replayed with their framing. */
  | { kind: 'stream'; frames: string; deployment: string; storedAt: number }

export interface ResponseCache {
  get(key: string): Promise<CachedAnswer | undefined>
  put(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void>
  /** The largest answer this backend can keep, bytes (Deno KV values are capped at 64 KiB). */
  readonly maxEntryBytes: number
}
