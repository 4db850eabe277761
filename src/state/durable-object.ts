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
import { ledgerLive } from '../routing/budget'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import { emptyCounters, foldedRow, HOUR_MS, MAX_RECENT_FAILOVERS, MAX_ROWS_PER_HOUR, mergeCounters, rowKey, type FailoverEvent, type StatsBatch, type StatsRow } from '../stats/rollup'
import { STATS_RETENTION_MS } from '../stats/ledger'
import { acquireOn } from './apply'
import { applyLeaseReport, grantLeases, type LeaseAnswer, type LeaseReport } from '../routing/lease'
import { KnownConfigs, UNKNOWN_CONFIG, type PoolRef } from './pool-ref'
import type { StatsRead } from './types'

/** The rows that keep the quota groups' windows and day ledgers (no pool is named with '#'). */
const GROUPS_ROW = '#quota-groups'
const GROUP_DAYS_ROW = '#quota-group-days'
/** Idle pools' rows are deleted after this long without traffic (their windows have long expired), unless they keep a live ledger. */
const IDLE_TTL_MS = 60 * 60 * 1000
/** Window bookkeeping (reservations, reconciled usage) reaches SQLite within this long. */
const FLUSH_MS = 250

export class RouterStateObject extends DurableObject<Record<string, unknown>> {
  private readonly pools = new Map<string, PoolState>()
  /** Quota-group windows, shared by every pool this object keeps (pools joined by a group share an object). */
  private readonly groups: NonNullable<PoolState['quotaGroups']> = {}
  /** Quota groups' day ledgers (`tokensPerDay`), shared the same way. */
  private readonly groupDays: NonNullable<PoolState['quotaGroupDays']> = {}
  private readonly configs = new KnownConfigs()
  /** The config each pool's state was last pruned against: pruning again only when it changes. */
  private readonly prunedFor = new Map<string, PoolConfig>()
  private readonly dirty = new Set<string>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private alarmSet = false

  constructor(ctx: DurableObjectState, env: Record<string, unknown>) {
    super(ctx, env)
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql
      sql.exec('CREATE TABLE IF NOT EXISTS pool_state (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL)')
      // Accounting (only the stats object has rows): one row per hour and combination, merged by adding.
      sql.exec('CREATE TABLE IF NOT EXISTS stats_rows (hour INTEGER NOT NULL, key TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (hour, key))')
      sql.exec('CREATE TABLE IF NOT EXISTS recent_failovers (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, event TEXT NOT NULL)')
      for (const row of sql.exec<{ name: string; state: string }>('SELECT name, state FROM pool_state')) {
        try {
          if (row.name === GROUPS_ROW) {
            for (const [g, usage] of Object.entries(JSON.parse(row.state) as NonNullable<PoolState['quotaGroups']>)) this.groups[g] = usage
            continue
          }
          if (row.name === GROUP_DAYS_ROW) {
            Object.assign(this.groupDays, JSON.parse(row.state) as NonNullable<PoolState['quotaGroupDays']>)
            continue
          }
          const state = JSON.parse(row.state) as PoolState
          // Rows of earlier versions kept a pool's group windows inside it.
          for (const [g, usage] of Object.entries(state.quotaGroups ?? {})) this.groups[g] ??= usage
          state.quotaGroups = this.groups
          state.quotaGroupDays = this.groupDays
          this.pools.set(row.name, state)
        } catch {
          // a row we cannot read is replaced by fresh state on first use
        }
      }
      this.alarmSet = (await ctx.storage.getAlarm()) !== null
    })
  }

  /**
   * Records `outcomes` (earlier attempts, batched by the caller), then decides and reserves the next attempt. Without
   * the config `ref` names: UNKNOWN_CONFIG, having changed nothing (the caller sends again with the config).
   */
  acquire(ref: PoolRef | PoolConfig, estimate: RequestEstimate, tried: string[], outcomes: AttemptOutcome[] = []): Decision | typeof UNKNOWN_CONFIG {
    const pool = this.configs.resolve(ref)
    if (!pool) return UNKNOWN_CONFIG
    const state = this.load(pool)
    const now = Date.now()
    for (const outcome of outcomes) record(pool, state, outcome, now)
    const decision = acquireOn(pool, state, estimate, tried, undefined, now, Math.random)
    this.changed(pool.name, outcomes.some(failed))
    return decision
  }

  report(ref: PoolRef | PoolConfig, outcomes: AttemptOutcome[]): void | typeof UNKNOWN_CONFIG {
    const pool = this.configs.resolve(ref)
    if (!pool) return UNKNOWN_CONFIG
    const state = this.load(pool)
    const now = Date.now()
    for (const outcome of outcomes) record(pool, state, outcome, now)
    this.changed(pool.name, outcomes.some(failed))
  }

  /**
   * An isolate's lease renewal (routing/lease.ts): its deltas and outcomes recorded, its next slices granted. Written
   * to SQLite at once: a slice counted as taken must still be counted after a restart.
   */
  lease(ref: PoolRef | PoolConfig, report: LeaseReport, validMs: number): LeaseAnswer | typeof UNKNOWN_CONFIG {
    const pool = this.configs.resolve(ref)
    if (!pool) return UNKNOWN_CONFIG
    const state = this.load(pool)
    const now = Date.now()
    applyLeaseReport(pool, state, report, now)
    const answer = grantLeases(pool, state, report.wants, validMs, now, report.affinity)
    this.changed(pool.name, true)
    return answer
  }

  snapshot(pool: PoolConfig) {
    return snapshot(pool, this.load(pool), Date.now())
  }

  /** Adds a batch of accounting rows: each merged into its hour's row of the same combination, in one synchronous step. */
  addStats(batch: StatsBatch): void {
    const sql = this.ctx.storage.sql
    const counts = new Map<number, number>()
    const find = (hour: number, key: string) => {
      const found = sql.exec<{ row: string }>('SELECT row FROM stats_rows WHERE hour = ? AND key = ?', hour, key).toArray()[0]
      return found ? (JSON.parse(found.row) as StatsRow) : undefined
    }
    for (const incoming of batch.rows) {
      const hour = incoming.hour
      if (!counts.has(hour)) counts.set(hour, sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM stats_rows WHERE hour = ?', hour).one().n)
      let row = incoming
      let existing = find(hour, rowKey(row))
      if (!existing && counts.get(hour)! >= MAX_ROWS_PER_HOUR) {
        row = foldedRow(incoming) // bounded: a new combination beyond the cap joins "(other)"
        existing = find(hour, rowKey(row))
      }
      const merged: StatsRow = existing ?? { ...row, c: emptyCounters() }
      mergeCounters(merged.c, row.c)
      sql.exec('INSERT INTO stats_rows (hour, key, row) VALUES (?, ?, ?) ON CONFLICT(hour, key) DO UPDATE SET row = excluded.row', hour, rowKey(merged), JSON.stringify(merged))
      if (!existing) counts.set(hour, counts.get(hour)! + 1)
    }
    for (const f of batch.failovers) sql.exec('INSERT INTO recent_failovers (at, event) VALUES (?, ?)', f.at, JSON.stringify(f))
    if (batch.failovers.length) sql.exec('DELETE FROM recent_failovers WHERE seq <= (SELECT MAX(seq) FROM recent_failovers) - ?', MAX_RECENT_FAILOVERS)
    this.armAlarm()
  }

  readStats(from: number, to: number): StatsRead {
    const sql = this.ctx.storage.sql
    const rows = sql.exec<{ row: string }>('SELECT row FROM stats_rows WHERE hour > ? AND hour < ?', from - HOUR_MS, to).toArray().map((r) => JSON.parse(r.row) as StatsRow)
    const failovers = sql.exec<{ event: string }>('SELECT event FROM recent_failovers WHERE at >= ? AND at < ? ORDER BY seq', from, to).toArray().map((r) => JSON.parse(r.event) as FailoverEvent)
    return { rows, failovers }
  }

  /** Writes every changed pool to SQLite now. */
  flush(): void {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const now = Date.now()
    const write = (name: string, value: unknown) =>
      this.ctx.storage.sql.exec(
        'INSERT INTO pool_state (name, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
        name,
        JSON.stringify(value),
        now,
      )
    for (const name of this.dirty) {
      const state = this.pools.get(name)
      if (!state) continue
      const { quotaGroups: _shared, quotaGroupDays: _days, ...own } = state
      write(name, own)
    }
    if (this.dirty.size && Object.keys(this.groups).length) write(GROUPS_ROW, this.groups)
    if (this.dirty.size && Object.keys(this.groupDays).length) write(GROUP_DAYS_ROW, this.groupDays)
    this.dirty.clear()
    this.armAlarm()
  }

  private armAlarm() {
    if (!this.alarmSet) {
      this.alarmSet = true
      void this.ctx.storage.setAlarm(Date.now() + IDLE_TTL_MS)
    }
  }

  /**
   * Deletes rows of pools idle for longer than IDLE_TTL_MS, and accounting older than its retention; re-arms while any
   * row remains. A row that keeps a budget's or a day quota's spend of the current period stays (read once an hour).
   */
  override async alarm() {
    const now = Date.now()
    this.ctx.storage.sql.exec('DELETE FROM stats_rows WHERE hour < ?', now - STATS_RETENTION_MS)
    this.flush()
    const cutoff = now - IDLE_TTL_MS
    for (const row of this.ctx.storage.sql.exec<{ name: string; state: string }>('SELECT name, state FROM pool_state WHERE updated_at < ?', cutoff).toArray()) {
      if (keepsLiveLedger(row.name, row.state, now)) continue
      this.ctx.storage.sql.exec('DELETE FROM pool_state WHERE name = ?', row.name)
      this.pools.delete(row.name)
    }
    const left =
      this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM pool_state').one().n +
      this.ctx.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM stats_rows').one().n
    this.alarmSet = left > 0
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + IDLE_TTL_MS)
  }

  private load(pool: PoolConfig): PoolState {
    let state = this.pools.get(pool.name)
    if (!state) {
      state = createPoolState(pool)
      state.quotaGroups = this.groups
      state.quotaGroupDays = this.groupDays
      this.pools.set(pool.name, state)
    } else if (this.prunedFor.get(pool.name) !== pool) {
      prunePoolState(this.configs.union(pool), state)
    }
    this.prunedFor.set(pool.name, pool)
    return state
  }

  private changed(name: string, urgent: boolean) {
    this.dirty.add(name)
    if (urgent) this.flush()
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }
}

/** Whether a stored row keeps a ledger (a budget's spend, a day's tokens) that still counts at `now`. */
function keepsLiveLedger(name: string, text: string, now: number): boolean {
  try {
    if (name === GROUP_DAYS_ROW) return Object.values(JSON.parse(text) as NonNullable<PoolState['quotaGroupDays']>).some((day) => ledgerLive(day, now, 'day'))
    if (name === GROUPS_ROW) return false
    // A day-only budget is kept to its month's end too (the ledger does not say which periods its budget has): harmless.
    return Object.values((JSON.parse(text) as PoolState).deployments ?? {}).some((ds) => ledgerLive(ds.spend, now, 'month') || ledgerLive(ds.dayTokens, now, 'day'))
  } catch {
    return false // unreadable: replaced by fresh state on first use anyway
  }
}

/** Outcomes that may change a breaker, the pacing or a misconfiguration: written at once. */
function failed(outcome: AttemptOutcome): boolean {
  return outcome.result.class !== 'success' && outcome.result.class !== 'client'
}
