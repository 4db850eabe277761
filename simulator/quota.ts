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
}

export interface Reservation {
  entry: Entry
  burndown: number
}

export type ReserveResult = { ok: true; reservation: Reservation } | { ok: false; reason: 'rpm' | 'tpm' }

export class QuotaTracker {
  private rules: Array<QuotaRule & { id: string }> = []
  private buckets = new Map<string, Entry[]>()
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

  private entries(region: string, modelId: string): Entry[] {
    const key = `${region}\n${modelId}`
    const since = this.now() - WINDOW_MS
    const live = (this.buckets.get(key) ?? []).filter((e) => e.t > since)
    this.buckets.set(key, live)
    return live
  }

  window(region: string, modelId: string): { requests: number; tokens: number } {
    const live = this.entries(region, modelId)
    return { requests: live.length, tokens: live.reduce((n, e) => n + e.tokens, 0) }
  }

  reserve(region: string, modelId: string, inputTokens: number, maxTokens: number | undefined): ReserveResult {
    const rule = this.ruleFor(region, modelId)
    const live = this.entries(region, modelId)
    const reserved = inputTokens + (maxTokens ?? rule?.defaultMaxTokens ?? this.defaultMaxTokens())
    if (rule?.rpm !== undefined && live.length + 1 > rule.rpm) return { ok: false, reason: 'rpm' }
    if (rule?.tpm !== undefined && live.reduce((n, e) => n + e.tokens, 0) + reserved > rule.tpm) return { ok: false, reason: 'tpm' }
    const entry = { t: this.now(), tokens: reserved }
    live.push(entry)
    return { ok: true, reservation: { entry, burndown: rule?.burndown ?? 1 } }
  }

  settle(r: Reservation, inputTokens: number, outputTokens: number): void {
    r.entry.tokens = inputTokens + outputTokens * r.burndown
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
