/** The response cache in Deno KV: one key per entry, expired by KV itself (`expireIn`); values are capped at 64 KiB. */
import type { KvLike } from '../state/deno-kv'
import type { CachedAnswer, ResponseCache } from './types'

export class DenoKvResponseCache implements ResponseCache {
  /** KV's value limit is 64 KiB; what is larger is simply not cached. */
  readonly maxEntryBytes = 60_000

  constructor(
    private readonly kv: KvLike,
    private readonly prefix = 'bedrock-router',
  ) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    const entry = await this.kv.get<CachedAnswer>([this.prefix, 'response-cache', key])
    return entry.value ?? undefined
  }

  async put(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
    if (JSON.stringify(answer).length > this.maxEntryBytes) return
    await this.kv.atomic().set([this.prefix, 'response-cache', key], answer, { expireIn: Math.max(1, ttlSeconds) * 1000 }).commit()
  }
}
