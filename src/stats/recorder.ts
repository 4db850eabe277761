/**
 * Per-isolate accounting: each finished request's event is added to a batch here, and the batch goes to the shared
 * state in one write at most every FLUSH_MS — so accounting costs no request a round trip, and under load a single
 * write carries many requests. The write is kept alive with the request's `waitUntil`; every request that adds keeps
 * its own timer (no promise is shared between requests, which Workers does not allow), and the first timer to fire
 * sends everything gathered so far. A failed write is kept for the next one (bounded). The isolate's own totals since
 * it started are kept too, for /metrics.
 */
import type { StateStore } from '../state/types'
import { StatsLedger } from './ledger'
import { emptyCounters, mergeCounters, rowsOf, type Counters, type FailoverEvent, type RequestEvent } from './rollup'

export const FLUSH_MS = 1000
/** Rows kept for a store that keeps failing (beyond, the oldest batch is dropped). */
const MAX_PENDING_ROWS = 20_000

export class StatsRecorder {
  private pending = new StatsLedger(Number.POSITIVE_INFINITY)
  /** This isolate's totals since it started, by pool, deployment and outcome. */
  readonly isolate = new Map<string, { pool: string; deployment: string; outcome: string; c: Counters }>()
  readonly startedAt = Date.now()

  constructor(
    private readonly store: StateStore,
    private readonly flushMs = FLUSH_MS,
  ) {}

  record(event: RequestEvent, failovers: FailoverEvent[], waitUntil: (p: Promise<unknown>) => void): void {
    const rows = rowsOf(event)
    this.pending.add({ rows, failovers }, event.at)
    for (const row of rows) {
      const key = `${row.pool}\u001f${row.deployment}\u001f${row.outcome}`
      let mine = this.isolate.get(key)
      if (!mine) this.isolate.set(key, (mine = { pool: row.pool, deployment: row.deployment, outcome: row.outcome, c: emptyCounters() }))
      mergeCounters(mine.c, row.c)
    }
    waitUntil(new Promise((resolve) => setTimeout(resolve, this.flushMs)).then(() => this.flush()))
  }

  /** Sends what has gathered (nothing if another timer already did). */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return
    const batch = this.pending.take()
    try {
      await this.store.addStats(batch)
    } catch (e) {
      if (batch.rows.length + this.pending.size <= MAX_PENDING_ROWS) this.pending.add(batch)
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
