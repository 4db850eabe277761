/**
 * Routing state in Durable Objects: one SQLite-backed object per pool (see docs/state-design.md).
 *
 * The object holds its pool's state in memory; its methods are synchronous between RPC entry and return (no
 * await inside), so each call is atomic: two isolates never both spend the last tokens of a window. State is
 * written through to SQLite so windows, breakers and pacing survive a restart: at once when an outcome
 * may have changed a breaker, pacing or misconfiguration (any failure), otherwise batched every FLUSH_MS —
 * a crash loses at most that much of the windows' bookkeeping, and no request waits for a write.
 */
import { DurableObject } from 'cloudflare:workers'
import type { PoolConfig } from '../config/types'
import { createPoolState, prunePoolState, record, snapshot, type PoolState } from '../routing/core'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import { acquireOn } from './apply'

/** Idle pools' rows are deleted after this long without traffic (their windows have long expired). */
const IDLE_TTL_MS = 60 * 60 * 1000
/** Window bookkeeping (reservations, reconciled usage) reaches SQLite within this long. */
const FLUSH_MS = 250

export class RouterStateObject extends DurableObject<Record<string, unknown>> {
  private readonly pools = new Map<string, PoolState>()
  private readonly dirty = new Set<string>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private alarmSet = false

  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env)
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql
      sql.exec('CREATE TABLE IF NOT EXISTS pool_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL)')
      for (const row of sql.exec<{ name: string; state: string }>('SELECT name, state FROM pool_state')) {
        try {
          this.pools.set(row.name, JSON.parse(row.state) as PoolState)
        } catch {
          // a row we cannot read is replaced by fresh state on first use
        }
      }
      this.alarmSet = (await ctx.storage.getAlarm()) !== null
    })
  }

  /** Records `outcomes` (earlier attempts, batched by the caller), then decides and reserves the next attempt. */
  acquire(pool: PoolConfig, estimate: RequestEstimate, tried: string[], outcomes: AttemptOutcome[] = []): Decision {
    const state = this.load(pool)
    const now = Date.now()
    for (const outcome of outcomes) record(pool, state, outcome, now)
    const decision = acquireOn(pool, state, estimate, tried, undefined, now, Math.random)
    this.changed(pool.name, outcomes.some(failed))
    return decision
  }

  report(pool: PoolConfig, outcomes: AttemptOutcome[]): void {
    const state = this.load(pool)
    const now = Date.now()
    for (const outcome of outcomes) record(pool, state, outcome, now)
    this.changed(pool.name, outcomes.some(failed))
  }

  snapshot(pool: PoolConfig) {
    return snapshot(pool, this.load(pool), Date.now())
  }

  /** Writes every changed pool to SQLite now. */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const now = Date.now()
    for (const name of this.dirty) {
      const state = this.pools.get(name)
      if (!state) continue
      this.ctx.storage.sql.exec(
        'INSERT INTO pool_state (name, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
        name,
        JSON.stringify(state),
        now,
      )
    }
    this.dirty.clear()
    if (!this.alarmSet) {
      this.alarmSet = true
      void this.ctx.storage.setAlarm(now + IDLE_TTL_MS)
    }
  }

  /** Deletes rows of pools idle for longer than IDLE_TTL_MS; re-arms while any pool remains. */
  override async alarm() {
    this.flush()
    const cutoff = Date.now() - IDLE_TTL_MS
    for (const row of this.ctx.storage.sql.exec<{ name: string }>('SELECT name FROM pool_state WHERE updated_at < ?', cutoff)) {
      this.pools.delete(row.name)
    }
    this.ctx.storage.sql.exec('DELETE FROM pool_state WHERE updated_at < ?', cutoff)
    const left = this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM pool_state').one().n
    this.alarmSet = left > 0
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + IDLE_TTL_MS)
  }

  private load(pool: PoolConfig): PoolState {
    let state = this.pools.get(pool.name)
    if (!state) {
      state = createPoolState(pool)
      this.pools.set(pool.name, state)
    } else {
      prunePoolState(pool, state)
    }
    return state
  }

  private changed(name: string, urgent: boolean) {
    this.dirty.add(name)
    if (urgent) this.flush()
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }
}

/** Outcomes that may change a breaker, the pacing or a misconfiguration: written at once. */
function failed(outcome: AttemptOutcome): boolean {
  return outcome.result.class !== 'success' && outcome.result.class !== 'client'
}
