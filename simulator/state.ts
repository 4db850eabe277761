/** The simulator's mutable state and its in-process control methods (the HTTP control API maps onto these). */
import { DEMO_API_KEYS, DEMO_CREDENTIALS } from './demo-credentials'
import { FaultRules } from './faults'
import { PromptCache } from './prompt-cache'
import { QuotaTracker, validateQuota } from './quota'
import { DEFAULT_SEED, mulberry32 } from './random'
import { Recorder, type RequestFilter } from './recorder'
import type { Credential, FaultRule, QuotaRule, RecordedRequest, SimConfig, SimStats, SimulatorOptions, StoredRule } from './types'

const DEFAULT_MAX_TOKENS = 4096

export class ConfigError extends Error {}

const CONFIG_KEYS = ['responseChars', 'frameDelayMs', 'chunkSizes', 'unknownModels', 'defaultMaxTokens', 'seed', 'guardrails'] as const

const isStringList = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string' && s.length > 0)

function validateGuardrails(list: unknown): void {
  if (!Array.isArray(list)) throw new ConfigError('config.guardrails must be an array of {id, versions?, blockedWords?, blockedInputMessaging?, blockedOutputsMessaging?}')
  for (const [i, g] of list.entries()) {
    if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new ConfigError(`config.guardrails[${i}] must be an object`)
    const r = g as Record<string, unknown>
    if (typeof r.id !== 'string' || !/^[a-z0-9]+$/.test(r.id)) throw new ConfigError(`config.guardrails[${i}].id must match [a-z0-9]+`)
    for (const k of Object.keys(r)) {
      if (!['id', 'versions', 'blockedWords', 'blockedInputMessaging', 'blockedOutputsMessaging'].includes(k)) throw new ConfigError(`unknown config.guardrails[${i}] key: ${k}`)
    }
    for (const k of ['versions', 'blockedWords']) if (r[k] !== undefined && !isStringList(r[k])) throw new ConfigError(`config.guardrails[${i}].${k} must be an array of strings`)
    for (const k of ['blockedInputMessaging', 'blockedOutputsMessaging']) {
      if (r[k] !== undefined && typeof r[k] !== 'string') throw new ConfigError(`config.guardrails[${i}].${k} must be a string`)
    }
  }
}

/** Validates a partial config; `null` values reset a field to its default. */
export function validateConfig(input: unknown): Partial<Record<keyof SimConfig, unknown>> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError('config must be a JSON object')
  const c = input as Record<string, unknown>
  for (const k of Object.keys(c)) if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new ConfigError(`unknown config key: ${k}`)
  const num = (k: string, min: number) => {
    const v = c[k]
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < min)) throw new ConfigError(`config.${k} must be a number >= ${min}`)
  }
  num('responseChars', 0)
  num('frameDelayMs', 0)
  num('defaultMaxTokens', 1)
  const seed = c.seed
  if (seed !== undefined && seed !== null && !(Number.isInteger(seed) && (seed as number) >= 0 && (seed as number) <= 0xffffffff)) {
    throw new ConfigError(`config.seed must be an integer from 0 to 4294967295, got ${JSON.stringify(seed)}`)
  }
  const sizes = c.chunkSizes
  if (sizes !== undefined && sizes !== null && (!Array.isArray(sizes) || sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1))) {
    throw new ConfigError('config.chunkSizes must be a non-empty array of positive integers')
  }
  const unknown = c.unknownModels
  if (unknown !== undefined && unknown !== null) {
    const ok = Array.isArray(unknown) && unknown.every((u) => typeof u === 'string' || (typeof u === 'object' && u !== null && typeof (u as { modelId?: unknown }).modelId === 'string'))
    if (!ok) throw new ConfigError('config.unknownModels must be an array of model IDs or {region?, modelId}')
  }
  if (c.guardrails !== undefined && c.guardrails !== null) validateGuardrails(c.guardrails)
  return c as Partial<Record<keyof SimConfig, unknown>>
}

export class SimState {
  readonly credentials: Record<string, Credential>
  readonly apiKeys: ReadonlySet<string>
  readonly requireAuth: boolean
  readonly signingClock: () => number
  /** Behind rules with a `probability`; re-created from `config.seed` whenever the seed is set or reset. */
  private random: () => number = mulberry32(DEFAULT_SEED)
  readonly faults = new FaultRules(() => this.random())
  readonly quotas: QuotaTracker
  readonly recorder: Recorder
  /** Anthropic prompt-cache entries of InvokeModel, on the simulator clock. */
  readonly promptCache = new PromptCache(() => this.now())
  private readonly closers = new Set<() => void>()
  private isClosed = false
  config: SimConfig
  private clockOffset = 0
  private seq = 0

  constructor(private readonly options: SimulatorOptions = {}) {
    this.credentials = options.credentials ?? DEMO_CREDENTIALS
    this.apiKeys = new Set(options.apiKeys ?? DEMO_API_KEYS)
    this.requireAuth = options.requireAuth ?? true
    this.signingClock = options.signingClock ?? Date.now
    this.config = this.initialConfig()
    this.reseed()
    this.quotas = new QuotaTracker(() => this.now(), () => this.config.defaultMaxTokens ?? DEFAULT_MAX_TOKENS)
    this.recorder = new Recorder(options.maxRecords ?? 100, (r, m) => this.quotas.window(r, m))
    this.installInitialRules()
    if (options.guardrails !== undefined) validateConfig({ guardrails: options.guardrails })
  }

  private initialConfig(): SimConfig {
    const o = this.options
    return {
      responseChars: o.responseChars,
      frameDelayMs: o.frameDelayMs,
      chunkSizes: o.chunkSizes,
      unknownModels: o.unknownModels,
      defaultMaxTokens: o.defaultMaxTokens,
      seed: o.seed,
      guardrails: o.guardrails,
    }
  }

  private reseed(): void {
    this.random = mulberry32(this.config.seed ?? DEFAULT_SEED)
  }

  private installInitialRules(): void {
    for (const r of this.options.rules ?? []) this.faults.add(r)
    for (const q of this.options.quotas ?? []) this.quotas.add(q)
  }

  now(): number {
    return (this.options.now ?? Date.now)() + this.clockOffset
  }

  nextSeq(): number {
    return ++this.seq
  }

  /** Moves the simulator clock forward (quota windows), on top of the injected `now()`. */
  advanceClock(ms: number): void {
    this.clockOffset += ms
  }

  addRule(rule: FaultRule): string {
    return this.faults.add(rule)
  }

  removeRule(id: string): boolean {
    return this.faults.remove(id)
  }

  rules(): StoredRule[] {
    return this.faults.list()
  }

  setQuota(q: QuotaRule): string {
    return this.quotas.add(validateQuota(q))
  }

  configure(patch: SimConfig | Partial<Record<keyof SimConfig, unknown>>): SimConfig {
    const valid = validateConfig(patch)
    const next: Record<string, unknown> = { ...this.config }
    for (const [k, v] of Object.entries(valid)) next[k] = v === null ? undefined : v
    this.config = next as SimConfig
    if ('seed' in valid) this.reseed() // setting a seed (even the same one) restarts its sequence
    return { ...this.config }
  }

  /**
   * Clears rules, quotas, stats, records, the prompt cache and the clock offset; restores the constructor's config, rules and quotas,
   * and restarts the random sequence from the constructor's seed, or from `seed` when given.
   */
  reset(seed?: number): void {
    this.faults.clear()
    this.quotas.clear()
    this.recorder.clear()
    this.promptCache.clear()
    this.clockOffset = 0
    this.config = this.initialConfig()
    if (seed !== undefined) this.config.seed = validateConfig({ seed }).seed as number
    this.reseed()
    this.installInitialRules()
  }

  stats(): SimStats {
    return this.recorder.stats()
  }

  requests(filter?: RequestFilter): RecordedRequest[] {
    return this.recorder.requests(filter)
  }

  /**
   * A signal for one request that close() aborts; call `release` when the request is over. Per request, because
   * workerd binds signals (and timers) to the request that created them.
   */
  requestSignal(): { signal: AbortSignal; release(): void } {
    const ac = new AbortController()
    if (this.isClosed) ac.abort()
    const abort = () => ac.abort()
    this.closers.add(abort)
    return { signal: ac.signal, release: () => this.closers.delete(abort) }
  }

  /** Ends stalled requests and open streams. */
  close(): void {
    this.isClosed = true
    for (const abort of this.closers) abort()
    this.closers.clear()
  }
}
