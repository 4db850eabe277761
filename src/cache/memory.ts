/** The response cache in this isolate's (or process's) memory: bounded by entries and bytes, oldest dropped first. */
import type { CachedAnswer, ResponseCache } from './types'

export class MemoryResponseCache implements ResponseCache {
  private readonly entries = new Map<string, { answer: CachedAnswer; expires: number; bytes: number }>()
  private bytes = 0

  constructor(
    private readonly maxEntries = 1000,
    private readonly maxBytes = 64 * 1024 * 1024,
    readonly maxEntryBytes = 4 * 1024 * 1024,
    private readonly now: () => number = Date.now,
  ) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    const e = this.entries.get(key)
    if (!e) return undefined
    if (e.expires <= this.now()) {
      this.drop(key)
      return undefined
    }
    return e.answer
  }

  async put(key: string, answer: CachedAnswer, ttlSeconds: number): Promise<void> {
    const bytes = answer.kind === 'converse' ? answer.body.length : answer.frames.length
    if (bytes > this.maxEntryBytes) return
    this.drop(key)
    this.entries.set(key, { answer, expires: this.now() + ttlSeconds * 1000, bytes })
    this.bytes += bytes
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break
      this.drop(oldest)
    }
  }

  private drop(key: string) {
    const e = this.entries.get(key)
    if (!e) return
    this.bytes -= e.bytes
    this.entries.delete(key)
  }
}
