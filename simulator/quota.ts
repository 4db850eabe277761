/**
 * Bedrock-style RPM / TPM quotas per region+model in a sliding 60 s window. A request reserves
 * input + maxTokens (or a default cap) when it starts, and settles to input + output × burndown when it ends.
 * Every accepted request is tracked (quota or not) so stats can report tokens per window.
 */
import { selects } from './selector'
import type { QuotaRule } from './types'

export const WINDOW_MS = 60_000

interface Entry {
  t: number
  tokens: number
  /** Left the window: its tokens no longer count in its bucket's sum. */
  expired: boolean
}

/**
 * One region+model's window: entries in the order they were taken (the clock only moves forward), the live ones from
 * `head` on, and their token sum kept as they come, settle and leave — so a request costs the same whether the window
 * holds ten entries or sixty thousand (at 1,000 req/s a filtered copy per request made the simulator itself the
 * bottleneck of a benchmark run within a minute).
 */
interface Bucket {
  entries: Entry[]
  head: number
  tokens: number
}

export interface Reservation {
  entry: Entry
  bucket: Bucket
  burndown: number
}

export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; reason: 'rpm' | 'tpm' }

export class QuotaTracker {
  private rules: Array<QuotaRule & { id: string }> = []
  private buckets = new Map<string, Bucket>()
  private nextId = 1

  constructor(
    private readonly now: () => number,
    private readonly defaultMaxTokens: () => number,
  ) {}

  /** Adds a quota; one with the same region+model selector replaces the old one. */
  add(rule: QuotaRule): string {
    const id = rule.id ?? `quota-${this.nextId++}`
    this.rules = this.rules.filter((r) => r.id !== id && !(r.region === rule.region && r.modelId === rule.modelId))
    this.rules.push({ ...rule, id })
    return id
  }

  list(): Array<QuotaRule & { id: string }> {
    return this.rules.map((r) => ({ ...r }))
  }

  /** Removes quotas and forgets all windows. */
  clear(): void {
    this.rules = []
    this.buckets.clear()
  }

  /** The most recently added quota matching region+model. */
  ruleFor(region: string, modelId: string): QuotaRule | undefined {
    for (let i = this.rules.length - 1; i >= 0; i--) if (selects(this.rules[i], region, modelId)) return this.rules[i]
    return undefined
  }

  /** The window of region+model, its entries older than 60 s dropped. */
  private bucket(region: string, modelId: string): Bucket {
    const key = `${region}\n${modelId}`
    let b = this.buckets.get(key)
    if (!b) this.buckets.set(key, (b = { entries: [], head: 0, tokens: 0 }))
    const since = this.now() - WINDOW_MS
    while (b.head < b.entries.length && b.entries[b.head].t <= since) {
      const e = b.entries[b.head++]
      e.expired = true
      b.tokens -= e.tokens
    }
    if (b.head === b.entries.length) b.tokens = 0 // no drift from fractional burndowns once the window is empty
    // Compact once the dead prefix is most of the array.
    if (b.head > 1024 && b.head * 2 > b.entries.length) {
      b.entries = b.entries.slice(b.head)
      b.head = 0
    }
    return b
  }

  window(region: string, modelId: string): { requests: number; tokens: number } {
    const b = this.bucket(region, modelId)
    return { requests: b.entries.length - b.head, tokens: b.tokens }
  }

  reserve(region: string, modelId: string, inputTokens: number, maxTokens: number | undefined): ReserveResult {
    const rule = this.ruleFor(region, modelId)
    const b = this.bucket(region, modelId)
    const reserved = inputTokens + (maxTokens ?? rule?.defaultMaxTokens ?? this.defaultMaxTokens())
    if (rule?.rpm !== undefined && b.entries.length - b.head + 1 > rule.rpm) return { ok: false, reason: 'rpm' }
    if (rule?.tpm !== undefined && b.tokens + reserved > rule.tpm) return { ok: false, reason: 'tpm' }
    const entry: Entry = { t: this.now(), tokens: reserved, expired: false }
    b.entries.push(entry)
    b.tokens += reserved
    return { ok: true, reservation: { entry, bucket: b, burndown: rule?.burndown ?? 1 } }
  }

  settle(r: Reservation, inputTokens: number, outputTokens: number): void {
    const tokens = inputTokens + outputTokens * r.burndown
    if (!r.entry.expired) r.bucket.tokens += tokens - r.entry.tokens
    r.entry.tokens = tokens
  }
}

/** Throws an Error with a readable message when the JSON is not a valid quota rule. */
export function validateQuota(input: unknown): QuotaRule {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('quota must be a JSON object')
  const q = input as Record<string, unknown>
  for (const k of ['id', 'region', 'modelId']) {
    if (q[k] !== undefined && (typeof q[k] !== 'string' || q[k] === '')) throw new Error(`quota.${k} must be a non-empty string`)
  }
  for (const k of ['rpm', 'tpm', 'burndown', 'defaultMaxTokens']) {
    const v = q[k]
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0))) throw new Error(`quota.${k} must be a number >= 0`)
  }
  return q as QuotaRule
}
