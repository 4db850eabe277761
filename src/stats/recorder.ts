/**
 * Per-isolate accounting: each finished request's event is added to a batch here, and the batch goes to the shared
 * state in one write at most every FLUSH_MS — so accounting costs no request a round trip, and under load a single
 * write carries many requests. The write is kept alive with the `waitUntil` of the request that scheduled it: the
 * first request to add to an empty batch sets one timer, later ones add plain data to the batch it will send (no
 * promise is shared between requests, which Workers does not allow; a request's rows wait at most FLUSH_MS). A failed write is kept for the next one (bounded). The isolate's own totals since
 * it started are kept too, for /metrics. The same event goes to the exports the env configures (export.ts): Analytics
 * Engine at once (in-process), OTLP spans with the batch.
 */
import type { RouterEnv } from '../env'
import { StatsWriteError, type StateStore } from '../state/types'
import { analyticsPoint, otlpBody, otlpHeaders, otlpSpan, parentOf, type AnalyticsDataset, type OtlpSpan } from './export'
import { StatsLedger } from './ledger'
import { emptyCounters, mergeCounters, rowsOf, type Counters, type FailoverEvent, type RequestEvent, type StatsBatch } from './rollup'

export const FLUSH_MS = 1000
/** Rows kept for a store that keeps failing (beyond, the oldest batch is dropped). */
const MAX_PENDING_ROWS = 20_000
/** Spans kept for one flush (beyond, the newest are dropped: tracing is best-effort). */
const MAX_PENDING_SPANS = 5000
/** How long an OTLP export may take. */
const OTLP_TIMEOUT_MS = 5000

/** What a request's environment says about exports. */
export interface ExportContext {
  env?: RouterEnv
  /** The request's W3C traceparent: its span joins that trace. */
  traceparent?: string
}

export class StatsRecorder {
  private pending = new StatsLedger(Number.POSITIVE_INFINITY)
  /** The accounting write under way, if any (a shutdown's flush waits for it: its failure puts rows back). */
  private writing?: Promise<void>
  /** When a flush timer was set (in some request's waitUntil) that will send what is pending; 0: none. */
  private scheduledAt = 0
  private spans: Array<{ endpoint: string; headers: Record<string, string>; span: OtlpSpan }> = []
  /** This isolate's totals since it started, by pool, deployment and outcome. */
  readonly isolate = new Map<string, { pool: string; deployment: string; outcome: string; c: Counters }>()
  readonly startedAt = Date.now()
  /** Called with each request's event (the in-process router's `on` hooks). */
  onEvent?: (event: RequestEvent, failovers: FailoverEvent[]) => void

  constructor(
    private readonly store: StateStore,
    private readonly flushMs = FLUSH_MS,
  ) {}

  record(event: RequestEvent, failovers: FailoverEvent[], waitUntil: (p: Promise<unknown>) => void, exports: ExportContext = {}): void {
    this.export(event, exports)
    this.onEvent?.(event, failovers)
    const rows = rowsOf(event)
    this.pending.add({ rows, failovers }, event.at)
    for (const row of rows) {
      const key = `${row.pool}\u001f${row.deployment}\u001f${row.outcome}`
      let mine = this.isolate.get(key)
      if (!mine) this.isolate.set(key, (mine = { pool: row.pool, deployment: row.deployment, outcome: row.outcome, c: emptyCounters() }))
      mergeCounters(mine.c, row.c)
    }
    // A timer that has not fired long after it was due belonged to a request context the runtime tore down: set another.
    if (this.scheduledAt && Date.now() - this.scheduledAt < this.flushMs * 10 + 1000) return
    this.scheduledAt = Date.now()
    waitUntil(
      new Promise((resolve) => setTimeout(resolve, this.flushMs)).then(() => {
        this.scheduledAt = 0
        return this.flush()
      }),
    )
  }

  private export(event: RequestEvent, { env, traceparent }: ExportContext) {
    const dataset = env?.ROUTER_ANALYTICS as AnalyticsDataset | undefined
    if (dataset && typeof dataset.writeDataPoint === 'function') {
      try {
        dataset.writeDataPoint(analyticsPoint(event))
      } catch (e) {
        console.error(JSON.stringify({ msg: 'analytics engine write failed', error: e instanceof Error ? e.message : String(e) }))
      }
    }
    const endpoint = env?.ROUTER_OTLP_ENDPOINT
    if (typeof endpoint === 'string' && /^https?:\/\//.test(endpoint) && this.spans.length < MAX_PENDING_SPANS) {
      this.spans.push({ endpoint, headers: otlpHeaders(env?.ROUTER_OTLP_HEADERS), span: otlpSpan(event, parentOf(traceparent)) })
    }
  }

  /** Sends what has gathered (nothing if another timer already did); a write already under way is waited for first. */
  async flush(): Promise<void> {
    await this.writing?.catch(() => {})
    await Promise.all([this.flushStats(), this.flushSpans()])
  }

  private async flushSpans(): Promise<void> {
    if (this.spans.length === 0) return
    const spans = this.spans
    this.spans = []
    const byEndpoint = new Map<string, { headers: Record<string, string>; spans: OtlpSpan[] }>()
    for (const s of spans) {
      const batch = byEndpoint.get(s.endpoint) ?? { headers: s.headers, spans: [] }
      batch.spans.push(s.span)
      byEndpoint.set(s.endpoint, batch)
    }
    await Promise.all(
      [...byEndpoint].map(async ([endpoint, batch]) => {
        try {
          const res = await fetch(endpoint, { method: 'POST', headers: batch.headers, body: otlpBody(batch.spans), signal: AbortSignal.timeout(OTLP_TIMEOUT_MS) })
          await res.body?.cancel()
          if (!res.ok) throw new Error(`HTTP ${res.status}`)
        } catch (e) {
          console.error(JSON.stringify({ msg: 'otlp export failed', spans: batch.spans.length, error: e instanceof Error ? e.message : String(e) }))
        }
      }),
    )
  }

  private async flushStats(): Promise<void> {
    if (this.pending.empty) return
    const write = this.writeStats(this.pending.take())
    this.writing = write
    try {
      await write
    } finally {
      if (this.writing === write) this.writing = undefined
    }
  }

  private async writeStats(batch: StatsBatch): Promise<void> {
    try {
      await this.store.addStats(batch)
    } catch (e) {
      // Only what the store says it did not write goes again (a part that landed, retried, would count twice).
      const retry = e instanceof StatsWriteError ? e.unwritten : batch
      if (retry.rows.length + this.pending.size <= MAX_PENDING_ROWS) this.pending.add(retry)
      console.error(JSON.stringify({ msg: 'stats write failed', rows: batch.rows.length, error: e instanceof Error ? e.message : String(e) }))
    }
  }
}

const recorders = new WeakMap<StateStore, StatsRecorder>()

/** The isolate's recorder for a store (one per store, created on first use). */
export function recorderFor(store: StateStore, flushMs?: number): StatsRecorder {
  let r = recorders.get(store)
  if (!r) recorders.set(store, (r = new StatsRecorder(store, flushMs)))
  return r
}
