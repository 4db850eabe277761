/**
 * The accounting core, pure like the routing core: one request's event becomes counters in a row per hour and per
 * combination of pool, deployment, model, client, front door, tags and outcome; rows from any isolate or batch merge
 * by adding; queries group them by any dimensions, per hour, per day or over the whole period. Plain JSON throughout,
 * so any state backend can keep rows (state/types.ts).
 */
import type { TokenUsage } from '../routing/types'
import { countOf, mergeHistogram, observe, quantile, type Histogram } from './histogram'

export const HOUR_MS = 3_600_000
/** Distinct rows kept per hour; beyond, new combinations fold their client and tags into "(other)". */
export const MAX_ROWS_PER_HOUR = 5000
/** Recent failovers kept for the dashboard. */
export const MAX_RECENT_FAILOVERS = 100

/** How a request ended, as accounting sees it. */
export type RequestOutcomeKind = 'success' | 'throttled' | 'unavailable' | 'client-error' | 'upstream-error' | 'cancelled'

/** One finished request, as the trace saw it (never a prompt or a secret). */
export interface RequestEvent {
  at: number
  pool: string
  /** Bedrock operation (converse, converse-stream, invoke, invoke-stream, count-tokens) and the model asked for. */
  operation?: string
  requestedModel?: string
  /** HTTP status answered, and the error's name when it failed. */
  status?: number
  errorType?: string
  /** The deployment that served, or none, and why it was chosen (the routing decision's reason). */
  deployment?: string
  reason?: string
  /** The model billed: a prompt router's invoked model, else the deployment's model ID. */
  model?: string
  client?: string
  /** The client's team (a key's `team`, a token's team claim). */
  team?: string
  frontDoor?: string
  /** The experiment arm (`<experiment>/<arm>`), when the pool runs one. */
  arm?: string
  /** `key=value` tags. */
  tags: string[]
  outcome: RequestOutcomeKind
  /** Attempts abandoned (for another deployment, or before giving up), each counted against its own deployment. */
  abandoned: Array<{ deployment: string; model: string; class: string }>
  /** The final answer itself was a throttle (a stream cut by one). */
  throttled?: boolean
  failFast: boolean
  latencyMs: number
  /** Streams: time to the first byte of the answer. */
  ttftMs?: number
  /** Time the router itself added (total − upstream − queue). */
  overheadMs?: number
  usage?: TokenUsage
  costUsd?: number
  /** The answer ended with `stopReason: guardrail_intervened`. */
  guardrailIntervened?: boolean
  /** Answered from the response cache (nothing sent, nothing spent). */
  cacheHit?: boolean
  /** A cascade tier's answer that failed its checks (the request went on to a larger tier), and why. */
  escalated?: boolean
  escalationReason?: string
  /** The answer a cascade returned: what its top tier would have cost for it, and what the cascade spent in all (USD). */
  cascadeTopTierUsd?: number
  cascadeSpentUsd?: number
}

/** A failover, for "recent failovers with their reasons". */
export interface FailoverEvent {
  at: number
  pool: string
  /** The deployment abandoned, and why. */
  from: string
  class: string
  errorType?: string
  /** Where the request went in the end (none: nothing served). */
  servedBy?: string
}

export interface Counters {
  requests: number
  successes: number
  upstreamThrottles: number
  routerThrottles: number
  failovers: number
  failFast: number
  errors: number
  cancelled: number
  /** Answers a guardrail stopped (`stopReason: guardrail_intervened`). */
  guardrailInterventions: number
  /** Answers from the response cache. */
  cacheHits: number
  /** Cascade tier answers that failed their checks and escalated (per tier pool: share answered = 1 − escalations/requests). */
  escalations: number
  /** Answers cascades returned: what the top tier would have cost for them, and what the cascades spent (every tier, every judge). */
  cascadeTopTierUsd: number
  cascadeSpentUsd: number
  inputTokens: number
  outputTokens: number
  cacheReadTokens: number
  cacheWriteTokens: number
  costUsd: number
  /** Sums of squares (and the latency sum) for the arms' confidence intervals (stats/compare.ts). */
  costSumSq: number
  latencySum: number
  latencySumSq: number
  ttftSum: number
  ttftSumSq: number
  latency: Histogram
  ttft: Histogram
  overhead: Histogram
  /** Escalations by why the tier's answer failed: `truncated`, `refusal`, `judge`, `check`, `could not serve`, … (merged like a histogram). */
  escalationReasons?: Record<string, number>
}

/** Outcomes of rows: a request's, or `abandoned` for an attempt given up on (rowsOf). */
export const DIMENSIONS = ['pool', 'deployment', 'model', 'client', 'team', 'frontDoor', 'arm', 'tag', 'outcome'] as const
export type Dimension = (typeof DIMENSIONS)[number]

export interface StatsRow {
  /** Start of the hour, epoch ms. */
  hour: number
  pool: string
  deployment: string
  model: string
  client: string
  team: string
  frontDoor: string
  arm: string
  /** Sorted `key=value` tags. */
  tags: string[]
  outcome: string
  c: Counters
}

/** What an isolate sends in one flush. */
export interface StatsBatch {
  rows: StatsRow[]
  failovers: FailoverEvent[]
}

const NONE = '-'
const OTHER = '(other)'

export function emptyCounters(): Counters {
  return {
    requests: 0,
    successes: 0,
    upstreamThrottles: 0,
    routerThrottles: 0,
    failovers: 0,
    failFast: 0,
    errors: 0,
    cancelled: 0,
    guardrailInterventions: 0,
    cacheHits: 0,
    escalations: 0,
    cascadeTopTierUsd: 0,
    cascadeSpentUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheWriteTokens: 0,
    costUsd: 0,
    costSumSq: 0,
    latencySum: 0,
    latencySumSq: 0,
    ttftSum: 0,
    ttftSumSq: 0,
    latency: {},
    ttft: {},
    overhead: {},
  }
}

export function rowKey(row: Omit<StatsRow, 'c'>): string {
  return [row.hour, row.pool, row.deployment, row.model, row.client, row.team, row.frontDoor, row.arm, row.tags.join(','), row.outcome].join('\u001f')
}

const n = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0)

/**
 * The rows of one request: its own (counted as a request, against the deployment that answered), and one per attempt
 * abandoned, against the deployment that failed it (a failover and, if Bedrock throttled it, an upstream throttle;
 * not a request) — so grouped by deployment, throttles and failovers land where they happened.
 */
export function rowsOf(event: RequestEvent): StatsRow[] {
  const rows = [rowOf(event)]
  for (const a of event.abandoned) {
    const c = emptyCounters()
    c.failovers = 1
    if (a.class === 'throttled') c.upstreamThrottles = 1
    rows.push({ ...rows[0], deployment: a.deployment, model: a.model, outcome: 'abandoned', c })
  }
  return rows
}

function rowOf(event: RequestEvent): StatsRow {
  const c = emptyCounters()
  c.requests = 1
  if (event.outcome === 'success') c.successes = 1
  else if (event.outcome === 'throttled') c.routerThrottles = 1
  else if (event.outcome === 'cancelled') c.cancelled = 1
  else c.errors = 1
  if (event.throttled) c.upstreamThrottles = 1
  c.failFast = event.failFast ? 1 : 0
  c.guardrailInterventions = event.guardrailIntervened ? 1 : 0
  c.cacheHits = event.cacheHit ? 1 : 0
  c.escalations = event.escalated ? 1 : 0
  if (event.escalated) c.escalationReasons = { [event.escalationReason ?? 'other']: 1 }
  c.cascadeTopTierUsd = n(event.cascadeTopTierUsd)
  c.cascadeSpentUsd = n(event.cascadeSpentUsd)
  const u = event.usage
  if (u) {
    c.inputTokens = n(u.inputTokens)
    c.outputTokens = n(u.outputTokens)
    c.cacheReadTokens = n(u.cacheReadInputTokens)
    c.cacheWriteTokens = n(u.cacheWriteInputTokens)
  }
  c.costUsd = n(event.costUsd)
  c.costSumSq = c.costUsd * c.costUsd
  c.latencySum = n(event.latencyMs)
  c.latencySumSq = c.latencySum * c.latencySum
  observe(c.latency, event.latencyMs)
  if (event.ttftMs !== undefined) {
    observe(c.ttft, event.ttftMs)
    c.ttftSum = n(event.ttftMs)
    c.ttftSumSq = c.ttftSum * c.ttftSum
  }
  if (event.overheadMs !== undefined) observe(c.overhead, event.overheadMs)
  return {
    hour: Math.floor(event.at / HOUR_MS) * HOUR_MS,
    pool: event.pool,
    deployment: event.deployment ?? NONE,
    model: event.model ?? NONE,
    client: event.client ?? NONE,
    team: event.team ?? NONE,
    frontDoor: event.frontDoor ?? NONE,
    arm: event.arm ?? NONE,
    tags: [...new Set(event.tags)].sort(),
    outcome: event.outcome,
    c,
  }
}

/** Adds `from` into `into`; a field one side lacks (rows written before it existed) counts as zero. */
export function mergeCounters(into: Counters, from: Counters): void {
  const target = into as unknown as Record<string, number | Histogram | undefined>
  const source = from as unknown as Record<string, number | Histogram | undefined>
  // for…in, not Object.entries: this runs twice per request (batch and isolate totals) over ~30 fields.
  for (const k in source) {
    const v = source[k]
    if (typeof v === 'number') target[k] = ((target[k] as number | undefined) ?? 0) + n(v)
    else if (v && typeof v === 'object') mergeHistogram((target[k] ??= {}) as Histogram, v as Histogram)
  }
}

/** The row a new combination joins when its hour has MAX_ROWS_PER_HOUR rows already. */
export function foldedRow(row: StatsRow): StatsRow {
  return { ...row, client: OTHER, tags: [OTHER] }
}

/**
 * Adds `row` into `rows` (keyed by rowKey). With `maxRows` set and reached, a new combination keeps its pool,
 * deployment, model, front door and outcome but folds its client and tags into "(other)", so the totals stay right
 * while the number of rows stays bounded.
 */
export function addRow(rows: Map<string, StatsRow>, row: StatsRow, maxRows = Number.POSITIVE_INFINITY): StatsRow {
  let key = rowKey(row)
  let existing = rows.get(key)
  if (!existing && rows.size >= maxRows) {
    row = foldedRow(row)
    key = rowKey(row)
    existing = rows.get(key)
  }
  if (existing) {
    mergeCounters(existing.c, row.c)
    return existing
  }
  const copy: StatsRow = { ...row, tags: [...row.tags], c: emptyCounters() }
  mergeCounters(copy.c, row.c)
  rows.set(key, copy)
  return copy
}

export interface StatsQuery {
  from: number
  to: number
  /** Dimensions to group by (none: one group). */
  by: Dimension[]
  /** Per hour, per UTC day, or one figure for the whole period. */
  bucket: 'hour' | 'day' | 'total'
  /** Only rows whose dimension has this value (`tag`: rows carrying the tag). */
  where?: Partial<Record<Dimension, string>>
}

export interface Percentiles {
  p50: number | null
  p95: number | null
  p99: number | null
}

export interface StatsSummary {
  requests: number
  successes: number
  throttles: { upstream: number; router: number }
  failovers: number
  failFast: number
  errors: number
  cancelled: number
  guardrailInterventions: number
  cacheHits: number
  escalations: number
  /** Escalations by reason (only when there were any). */
  escalationsByReason?: Record<string, number>
  /** Answers cascades returned: the top tier's cost for them, what the cascades spent, and the difference (USD; only when a cascade answered). */
  cascade?: { topTierCostUsd: number; spentUsd: number; savedUsd: number }
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number }
  costUsd: number
  latencyMs: Percentiles
  ttftMs: Percentiles
  routerOverheadMs: Percentiles
}

export interface StatsGroup extends StatsSummary {
  /** Start of the hour or day (ISO), for bucketed queries. */
  period?: string
  /** The group's value of each `by` dimension. */
  keys: Partial<Record<Dimension, string>>
}

function valuesOf(row: StatsRow, dim: Dimension): string[] {
  if (dim === 'tag') return row.tags.length ? row.tags : ['(none)']
  return [row[dim] ?? NONE] // rows written before a dimension existed read as "-"
}

/** Groups the rows in [from, to) as the query asks; groups sorted by period, then by cost (highest first). */
export function aggregate(rows: Iterable<StatsRow>, query: StatsQuery): StatsGroup[] {
  return aggregateCounters(rows, query).map((g) => ({ ...(g.period !== undefined ? { period: new Date(g.period).toISOString() } : {}), keys: g.keys, ...summarize(g.c) }))
}

/** The same groups with their raw counters (for comparisons that need sums, not percentiles). */
export function aggregateCounters(rows: Iterable<StatsRow>, query: StatsQuery): Array<{ period?: number; keys: Partial<Record<Dimension, string>>; c: Counters }> {
  const groups = new Map<string, { period?: number; keys: Partial<Record<Dimension, string>>; c: Counters }>()
  for (const row of rows) {
    if (row.hour + HOUR_MS <= query.from || row.hour >= query.to) continue
    if (query.where && !Object.entries(query.where).every(([d, v]) => valuesOf(row, d as Dimension).includes(v!))) continue
    const period = query.bucket === 'hour' ? row.hour : query.bucket === 'day' ? Math.floor(row.hour / 86_400_000) * 86_400_000 : undefined
    // Every combination of the row's values (a row with two tags counts toward both when grouped by tag).
    let combos: Partial<Record<Dimension, string>>[] = [{}]
    for (const dim of query.by) combos = combos.flatMap((k) => valuesOf(row, dim).map((v) => ({ ...k, [dim]: v })))
    for (const keys of combos) {
      const key = `${period ?? ''}\u001f${query.by.map((d) => keys[d]).join('\u001f')}`
      let g = groups.get(key)
      if (!g) groups.set(key, (g = { period, keys, c: emptyCounters() }))
      mergeCounters(g.c, row.c)
    }
  }
  return [...groups.values()].sort((a, b) => (a.period ?? 0) - (b.period ?? 0) || b.c.costUsd - a.c.costUsd || b.c.requests - a.c.requests)
}

const round9 = (x: number) => Math.round(x * 1e9) / 1e9

function percentiles(h: Histogram): Percentiles {
  if (countOf(h) === 0) return { p50: null, p95: null, p99: null }
  return { p50: quantile(h, 0.5), p95: quantile(h, 0.95), p99: quantile(h, 0.99) }
}

export function summarize(c: Counters): StatsSummary {
  return {
    requests: c.requests,
    successes: c.successes,
    throttles: { upstream: c.upstreamThrottles, router: c.routerThrottles },
    failovers: c.failovers,
    failFast: c.failFast,
    errors: c.errors,
    cancelled: c.cancelled,
    guardrailInterventions: c.guardrailInterventions ?? 0,
    cacheHits: c.cacheHits ?? 0,
    escalations: c.escalations ?? 0,
    ...(c.escalationReasons && Object.keys(c.escalationReasons).length ? { escalationsByReason: { ...c.escalationReasons } } : {}),
    ...(c.cascadeSpentUsd || c.cascadeTopTierUsd
      ? { cascade: { topTierCostUsd: round9(c.cascadeTopTierUsd ?? 0), spentUsd: round9(c.cascadeSpentUsd ?? 0), savedUsd: round9((c.cascadeTopTierUsd ?? 0) - (c.cascadeSpentUsd ?? 0)) } }
      : {}),
    tokens: { input: c.inputTokens, output: c.outputTokens, cacheRead: c.cacheReadTokens, cacheWrite: c.cacheWriteTokens },
    costUsd: round9(c.costUsd),
    latencyMs: percentiles(c.latency),
    ttftMs: percentiles(c.ttft),
    routerOverheadMs: percentiles(c.overhead),
  }
}

const CSV_COLUMNS = [
  'requests', 'successes', 'upstreamThrottles', 'routerThrottles', 'failovers', 'failFast', 'errors', 'cancelled',
  'inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheWriteTokens', 'costUsd',
  'latencyP50Ms', 'latencyP95Ms', 'latencyP99Ms', 'ttftP50Ms', 'ttftP95Ms', 'ttftP99Ms', 'routerOverheadP50Ms', 'routerOverheadP95Ms',
] as const

/** Groups as CSV for spreadsheets: period, the `by` dimensions, then the figures. */
export function toCsv(groups: StatsGroup[], by: Dimension[], bucketed: boolean): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v)
    // Quote what a spreadsheet would split or evaluate (a leading = + - @ is a formula: neutralised).
    const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe
  }
  const header = [...(bucketed ? ['period'] : []), ...by, ...CSV_COLUMNS]
  const lines = [header.join(',')]
  for (const g of groups) {
    const figures = [
      g.requests, g.successes, g.throttles.upstream, g.throttles.router, g.failovers, g.failFast, g.errors, g.cancelled,
      g.tokens.input, g.tokens.output, g.tokens.cacheRead, g.tokens.cacheWrite, g.costUsd,
      g.latencyMs.p50, g.latencyMs.p95, g.latencyMs.p99, g.ttftMs.p50, g.ttftMs.p95, g.ttftMs.p99, g.routerOverheadMs.p50, g.routerOverheadMs.p95,
    ]
    lines.push([...(bucketed ? [g.period] : []), ...by.map((d) => g.keys[d]), ...figures].map(cell).join(','))
  }
  return lines.join('\r\n') + '\r\n'
}
