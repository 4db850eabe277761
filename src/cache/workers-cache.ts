/**
 * The response cache in the Workers Cache API (`caches.default`, per data center): entries are JSON responses under a
 * synthetic URL named by the key's hash, with `Cache-Control: max-age` doing the expiry.
 */
import type { CachedAnswer, ResponseCache } from './types'

const ORIGIN = 'https://response-cache.bedrock-router.internal/'

export class WorkersResponseCache implements ResponseCache {
  readonly maxEntryBytes = 4 * 1024 * 1024

  constructor(private readonly cache: Cache) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    const res = await this.cache.match(new Request(ORIGIN + key))
    return res ? ((await res.json()) as CachedAnswer) : undefined
  }

  async put(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
    const body = JSON.stringify(answer)
    if (body.length > this.maxEntryBytes) return
    await this.cache.put(new Request(ORIGIN + key), new Response(body, { headers: { 'content-type': 'application/json', 'cache-control': `max-age=${Math.max(1, Math.floor(ttlSeconds))}` } }))
  }
}
