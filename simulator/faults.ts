/**
 * Fault rules: validation, storage and per-request selection. The first matching rule that strikes wins: a rule
 * with a `probability` strikes a matching request only when a draw from the seeded RNG says so, and otherwise lets
 * it through to later rules; only strikes count down `times` and `hits`.
 */
import { OPERATIONS, STREAM_OPERATIONS } from './operations'
import { selects } from './selector'
import type { FaultKind, FaultRule, Operation, StoredRule } from './types'

const STREAM_ONLY: ReadonlySet<FaultKind> = new Set(['cut', 'exception', 'delay', 'corrupt'])
const KINDS: ReadonlySet<string> = new Set(['throttle', 'error', 'stall', 'cut', 'exception', 'delay', 'reset', 'garbage', 'corrupt'])

export class RuleError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function check(r: Record<string, unknown>, key: string, kind: 'string' | 'count' | 'ms' | 'status', required = false) {
  const v = r[key]
  if (v === undefined) {
    if (required) throw new RuleError(`rule.${key} is required`)
    return
  }
  const ok =
    kind === 'string'
      ? typeof v === 'string' && v.length > 0
      : kind === 'status'
        ? Number.isInteger(v) && (v as number) >= 400 && (v as number) <= 599
        : typeof v === 'number' && v >= 0 && (kind === 'ms' || Number.isInteger(v))
  if (!ok) throw new RuleError(`rule.${key} is invalid: ${JSON.stringify(v)}`)
}

/** Throws RuleError with a readable message when the JSON is not a valid rule. */
export function validateRule(input: unknown): FaultRule {
  if (!isObject(input)) throw new RuleError('rule must be a JSON object')
  if (typeof input.fault !== 'string' || !KINDS.has(input.fault)) {
    throw new RuleError(`rule.fault must be one of ${[...KINDS].join(', ')}`)
  }
  for (const k of ['id', 'region', 'modelId', 'message', 'errorType', 'exceptionType']) check(input, k, 'string')
  if (input.operation !== undefined && !(OPERATIONS as readonly unknown[]).includes(input.operation)) {
    throw new RuleError(`rule.operation must be one of ${OPERATIONS.map((o) => `"${o}"`).join(', ')}`)
  }
  if (input.operation !== undefined && STREAM_ONLY.has(input.fault as FaultKind) && !STREAM_OPERATIONS.has(input.operation as Operation)) {
    // It could never strike: say so now rather than leave a rule that silently does nothing.
    throw new RuleError(`rule.fault "${input.fault}" applies to streams only ("converse-stream", "invoke-stream")`)
  }
  check(input, 'times', 'count')
  if (input.times === 0) throw new RuleError('rule.times must be at least 1')
  for (const k of ['retryAfterSeconds', 'ms', 'firstFrameMs', 'frameDelayMs']) check(input, k, 'ms')
  check(input, 'partialBytes', 'count')
  const p = input.probability
  if (p !== undefined && !(typeof p === 'number' && p > 0 && p <= 1)) {
    throw new RuleError(`rule.probability must be a number with 0 < probability <= 1, got ${JSON.stringify(p)}`)
  }
  switch (input.fault) {
    case 'error':
      check(input, 'status', 'status', true)
      check(input, 'errorType', 'string', true)
      break
    case 'cut':
    case 'exception':
    case 'corrupt':
      check(input, 'afterFrames', 'count', true)
      break
    case 'garbage':
      if (input.body !== undefined && typeof input.body !== 'string') throw new RuleError('rule.body must be a string')
      break
  }
  return input as unknown as FaultRule
}

export class FaultRules {
  private rules: StoredRule[] = []
  private nextId = 1

  /** `random` is drawn once per matching rule with a probability below 1, never otherwise. */
  constructor(private readonly random: () => number) {}

  add(input: unknown): string {
    const rule = validateRule(input)
    const id = rule.id ?? `rule-${this.nextId++}`
    this.rules = this.rules.filter((r) => r.id !== id)
    this.rules.push({ ...rule, id, remaining: rule.times ?? null, hits: 0 })
    return id
  }

  remove(id: string): boolean {
    const before = this.rules.length
    this.rules = this.rules.filter((r) => r.id !== id)
    return this.rules.length !== before
  }

  clear(): void {
    this.rules = []
  }

  list(): StoredRule[] {
    return this.rules.map((r) => ({ ...r }))
  }

  /**
   * The first rule matching this request (stream-only faults need a stream operation) that strikes it; uses up
   * one of its `times`. `key` is the model ID, or `guardrail/{id}` for ApplyGuardrail.
   */
  take(region: string, key: string, operation: Operation): StoredRule | undefined {
    const rule = this.rules.find(
      (r) =>
        selects(r, region, key, operation) &&
        (STREAM_OPERATIONS.has(operation) || !STREAM_ONLY.has(r.fault)) &&
        (r.probability === undefined || r.probability >= 1 || this.random() < r.probability),
    )
    if (!rule) return undefined
    rule.hits++
    if (rule.remaining !== null && --rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule)
    return { ...rule }
  }
}
