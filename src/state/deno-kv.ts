/**
 * Routing state in Deno KV: a pool's PoolState split over one key per deployment (`[prefix, pool, 'd', id]`) and
 * one for the rest (`[prefix, pool, 'meta']`: affinity, quota groups), so a large pool stays far below KV's 64 KiB
 * per value. Updated with optimistic concurrency: read every key, run the engine, commit the keys that changed with
 * a versionstamp check on every key read (a decision reads them all), retry on conflict. Two instances therefore
 * never both spend the last tokens of a window. Costs two KV round trips per attempt (read + commit; pools of more
 * than nine deployments read in several batches); on Deno Deploy KV has a single primary region, so far-away
 * instances pay a cross-region round trip each. A pool with `leases` pays them per renewal instead (state/leases.ts).
 */
import type { PoolConfig } from '../config/types'
import { prunePoolState, record, snapshot, type PoolState } from '../routing/core'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import { acquireOn } from './apply'
import { createDeploymentState } from '../routing/state'
import { emptyCounters, HOUR_MS, MAX_RECENT_FAILOVERS, mergeCounters, rowKey, type FailoverEvent, type StatsBatch, type StatsRow } from '../stats/rollup'
import { STATS_RETENTION_MS } from '../stats/ledger'
import type { LeaseBackend, StateStore, StatsRead } from './types'
import { applyLeaseReport, grantLeases, type LeaseAnswer, type LeaseReport } from '../routing/lease'

/** The subset of Deno.Kv this store uses (so the module type-checks outside Deno). */
export interface KvLike {
  get<T>(key: unknown[]): Promise<{ key: unknown[]; value: T | null; versionstamp: string | null }>
  getMany<T>(keys: unknown[][]): Promise<{ key: unknown[]; value: T | null; versionstamp: string | null }[]>
  list<T>(selector: { prefix?: unknown[]; start?: unknown[]; end?: unknown[] }, options?: { reverse?: boolean; limit?: number }): AsyncIterable<{ key: unknown[]; value: T }>
  atomic(): {
    check(...checks: { key: unknown[]; versionstamp: string | null }[]): ReturnType<KvLike['atomic']>
    set(key: unknown[], value: unknown, options?: { expireIn?: number }): ReturnType<KvLike['atomic']>
    delete(key: unknown[]): ReturnType<KvLike['atomic']>
    commit(): Promise<{ ok: boolean }>
  }
}

/**
 * Pool state is dropped by KV itself after this long without a write. Commits rewrite only the keys that changed, so
 * a deployment nothing is sent to (its budget or day's tokens spent) keeps its key unwritten: the expiry outlasts
 * the longest period it may hold (a calendar month), not just the 60 s windows.
 */
const EXPIRE_MS = 40 * 24 * 60 * 60 * 1000
const MAX_TRIES = 64
/** Accounting rows merged per atomic commit (Deno KV allows 10 keys per getMany… and checks per commit). */
const STATS_CHUNK = 10
/** Keys per getMany (Deno KV's limit). */
const KV_BATCH = 10

export class DenoKvStateStore implements StateStore, LeaseBackend {
  /** Updates from this instance to one pool run one at a time, so only other instances can conflict. */
  private readonly queues = new Map<string, Promise<unknown>>()
  /** Reports waiting to be written: they ride along the next update of their pool (one commit for many). */
  private readonly pending = new Map<string, AttemptOutcome[]>()

  /**
   * @param staleAfterMs an acquire still queued after this long is dropped (the caller has routed on its local
   * estimate by then, see fail-open.ts); its reservation would only hold capacity nobody uses.
   */
  constructor(
    private readonly kv: KvLike,
    private readonly prefix: string = 'bedrock-router',
    private readonly staleAfterMs: number = 500,
  ) {}

  acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    if (previous) this.queue(pool, previous)
    const expires = Date.now() + this.staleAfterMs
    return this.update(pool, (state, now) => {
      if (now > expires) throw new Error('Deno KV: acquire dropped, its caller stopped waiting')
      return acquireOn(pool, state, estimate, tried, undefined, now, Math.random)
    })
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    this.queue(pool, outcome)
    await this.update(pool, () => undefined)
  }

  /** A lease renewal (routing/lease.ts): the report applied and the next slices granted, in one read-modify-write. */
  lease(pool: PoolConfig, report: LeaseReport, validMs: number): Promise<LeaseAnswer> {
    return this.update(pool, (state, now) => {
      applyLeaseReport(pool, state, report, now)
      return grantLeases(pool, state, report.wants, validMs, now)
    })
  }

  async snapshot(pool: PoolConfig): Promise<unknown> {
    return snapshot(pool, (await this.read(pool)).state, Date.now())
  }

  /**
   * A pool's state from its keys (at most 10 per getMany), with every entry read (for the commit's checks) and each
   * key's JSON as read (to write only what changed). A pool still in the single key of earlier versions is read from it.
   */
  private async read(pool: PoolConfig): Promise<{ state: PoolState; entries: Array<{ key: unknown[]; versionstamp: string | null }>; before: Map<string, string>; legacy: boolean }> {
    const keys: unknown[][] = [[this.prefix, pool.name, 'meta'], ...pool.deployments.map((d) => [this.prefix, pool.name, 'd', d.id])]
    // Quota-group windows under a key of their own, shared by every pool the groups join (stateKey).
    const grouped = pool.deployments.some((d) => d.quotaGroup !== undefined)
    if (grouped) keys.push(this.groupsKey(pool))
    const entries: Array<{ key: unknown[]; value: unknown; versionstamp: string | null }> = []
    for (let i = 0; i < keys.length; i += KV_BATCH) entries.push(...(await this.kv.getMany<unknown>(keys.slice(i, i + KV_BATCH))))
    const before = new Map<string, string>()
    const meta = entries[0].value as Omit<PoolState, 'deployments'> | null
    if (meta === null && entries.slice(0, pool.deployments.length + 1).every((e) => e.value === null)) {
      const old = await this.kv.get<PoolState>([this.prefix, pool.name])
      if (old.value) {
        // A shared group window (another pool's) wins over one the old layout kept inside this pool.
        const shared = grouped ? (entries[keys.length - 1].value as PoolState['quotaGroups'] | null) : null
        if (shared) old.value.quotaGroups = { ...old.value.quotaGroups, ...shared }
        return { state: old.value, entries: [...entries, old], before, legacy: true }
      }
    }
    const state: PoolState = { ...(meta ?? { version: 1 }), deployments: {} }
    before.set('meta', meta === null ? '' : JSON.stringify(meta))
    pool.deployments.forEach((d, i) => {
      const value = entries[i + 1].value as PoolState['deployments'][string] | null
      if (value !== null) state.deployments[d.id] = value
      before.set(d.id, value === null ? '' : JSON.stringify(value))
    })
    delete state.quotaGroups
    if (grouped) {
      const groups = (entries[keys.length - 1].value ?? null) as PoolState['quotaGroups'] | null
      state.quotaGroups = groups ?? {}
      before.set('#groups', groups === null ? '' : JSON.stringify(groups))
    }
    return { state, entries, before, legacy: false }
  }

  private groupsKey(pool: PoolConfig): unknown[] {
    return [this.prefix, '#groups', pool.stateKey ?? pool.name]
  }

  /**
   * Adds an accounting batch: rows are merged into their hour's row of the same combination, a few per atomic commit
   * with versionstamp checks (retried on conflict), so batches from any number of instances add up exactly.
   */
  async addStats(batch: StatsBatch): Promise<void> {
    for (let i = 0; i < batch.rows.length; i += STATS_CHUNK) await this.addStatRows(batch.rows.slice(i, i + STATS_CHUNK))
    const expireIn = 24 * HOUR_MS
    for (const f of batch.failovers) {
      await this.kv.atomic().set([this.prefix, 'failovers', f.at, crypto.randomUUID()], f, { expireIn }).commit()
    }
  }

  private async addStatRows(rows: StatsRow[]): Promise<void> {
    const keyOf = (r: StatsRow) => [this.prefix, 'stats', r.hour, rowKey(r)]
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      try {
        const entries = await this.kv.getMany<StatsRow>(rows.map(keyOf))
        const op = this.kv.atomic().check(...entries)
        const written = new Map<string, StatsRow>()
        for (const [i, incoming] of rows.entries()) {
          const k = rowKey(incoming)
          const merged: StatsRow = written.get(k) ?? entries[i].value ?? { ...incoming, c: emptyCounters() }
          mergeCounters(merged.c, incoming.c)
          written.set(k, merged)
        }
        for (const row of written.values()) op.set(keyOf(row), row, { expireIn: STATS_RETENTION_MS })
        if ((await op.commit()).ok) return
      } catch (e) {
        if (!/locked|busy/i.test(String((e as Error)?.message))) throw e
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)))
    }
    throw new Error(`Deno KV: accounting rows stayed contended for ${MAX_TRIES} tries`)
  }

  async readStats(from: number, to: number): Promise<StatsRead> {
    const rows: StatsRow[] = []
    const start = Math.floor(from / HOUR_MS) * HOUR_MS
    for await (const e of this.kv.list<StatsRow>({ start: [this.prefix, 'stats', start], end: [this.prefix, 'stats', to] })) rows.push(e.value)
    const failovers: FailoverEvent[] = []
    for await (const e of this.kv.list<FailoverEvent>({ start: [this.prefix, 'failovers', from], end: [this.prefix, 'failovers', to] }, { reverse: true, limit: MAX_RECENT_FAILOVERS })) failovers.unshift(e.value)
    return { rows, failovers }
  }

  private queue(pool: PoolConfig, outcome: AttemptOutcome) {
    const list = this.pending.get(pool.name) ?? []
    if (list.length < 1000) list.push(outcome)
    this.pending.set(pool.name, list)
  }

  /** Runs `change` after recording every pending report, in one commit; updates to one pool run in order. */
  private update<T>(pool: PoolConfig, change: (state: PoolState, now: number) => T): Promise<T> {
    const previous = this.queues.get(pool.name) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(async () => {
      const outcomes = this.pending.get(pool.name) ?? []
      this.pending.delete(pool.name)
      if (outcomes.length === 0 && change.length === 0) return undefined as T // nothing left to write
      try {
        return await this.commit(pool, (state, now) => {
          for (const outcome of outcomes) record(pool, state, outcome, now)
          return change(state, now)
        })
      } catch (e) {
        // The reports were not written: keep them for the next update.
        if (outcomes.length) this.pending.set(pool.name, [...outcomes, ...(this.pending.get(pool.name) ?? [])])
        throw e
      }
    })
    this.queues.set(pool.name, next)
    void next.finally(() => {
      if (this.queues.get(pool.name) === next) this.queues.delete(pool.name)
    }).catch(() => {})
    return next
  }

  /** Read-modify-write with versionstamp checks, writing only the keys that changed; retries with jitter on conflict. */
  private async commit<T>(pool: PoolConfig, change: (state: PoolState, now: number) => T): Promise<T> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      try {
        const { state, entries, before, legacy } = await this.read(pool)
        for (const d of pool.deployments) state.deployments[d.id] ??= createDeploymentState()
        prunePoolState(pool, state)
        const result = change(state, Date.now())
        const op = this.kv.atomic().check(...entries)
        const { deployments, quotaGroups, ...meta } = state
        const metaText = JSON.stringify(meta)
        if (quotaGroups && (legacy || JSON.stringify(quotaGroups) !== before.get('#groups'))) op.set(this.groupsKey(pool), quotaGroups, { expireIn: EXPIRE_MS })
        if (legacy || metaText !== before.get('meta')) op.set([this.prefix, pool.name, 'meta'], meta, { expireIn: EXPIRE_MS })
        for (const d of pool.deployments) {
          const value = deployments[d.id]
          if (legacy || JSON.stringify(value) !== before.get(d.id)) op.set([this.prefix, pool.name, 'd', d.id], value, { expireIn: EXPIRE_MS })
        }
        if (legacy) op.delete([this.prefix, pool.name])
        const commit = await op.commit()
        if (commit.ok) return result
      } catch (e) {
        // A local (SQLite) KV opened by several processes answers "database is locked" under contention:
        // the same as a lost race, so try again. Anything else is a real failure.
        if (!/locked|busy/i.test(String((e as Error)?.message))) throw e
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)))
    }
    throw new Error(`Deno KV: pool ${pool.name} state stayed contended for ${MAX_TRIES} tries`)
  }
}
