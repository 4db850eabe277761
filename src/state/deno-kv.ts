/**
 * Routing state in Deno KV: a pool's PoolState split over one key per deployment (`[prefix, pool, 'd', id]`), the
 * prompt-cache affinity map over four (`'a', i`), its change log with leases (`'alog'`), the quota groups' shared
 * windows, and one for the rest (`[prefix, pool, 'meta']`), so a large pool stays far below KV's 64 KiB per value.
 * Updated with optimistic concurrency: read every key, run the engine, commit the keys that changed with a
 * versionstamp check on every key read (a decision reads them all), retry on conflict. Two instances therefore never
 * both spend the last tokens of a window.
 *
 * What an attempt costs: one KV round trip, the commit. The store keeps what it last committed (each key's JSON and
 * versionstamp) and decides on that, checked against those versionstamps: while no other instance has written the
 * pool, the commit goes through without a read; when one has, the check fails and the update reads and tries again
 * (a read + commit, as without the copy). Reports wait up to REPORT_DELAY_MS for the pool's next update and ride it
 * (one commit for many), so an instance under load writes once per decision, not twice. On Deno Deploy KV has a
 * single primary region, so far-away instances pay a cross-region round trip per commit. A pool with `leases` pays
 * it per renewal instead (state/leases.ts).
 */
import type { PoolConfig } from '../config/types'
import { prunePoolState, record, snapshot, type PoolState } from '../routing/core'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import { acquireOn } from './apply'
import { affinityOf } from '../routing/affinity'
import { createDeploymentState } from '../routing/state'
import { emptyCounters, HOUR_MS, MAX_RECENT_FAILOVERS, mergeCounters, rowKey, type FailoverEvent, type StatsBatch, type StatsRow } from '../stats/rollup'
import { STATS_RETENTION_MS } from '../stats/ledger'
import { StatsWriteError, type LeaseBackend, type StateStore, type StatsRead } from './types'
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
    /** On success, the versionstamp every key this commit wrote now has. */
    commit(): Promise<{ ok: boolean; versionstamp?: string }>
  }
}

/** A pool's keys as this instance last committed them: each key's JSON (null: absent) and versionstamp. */
interface CommittedCopy {
  /** The keys, joined: a copy for another key list (the config changed) is not used. */
  keyList: string
  texts: Array<string | null>
  versionstamps: Array<string | null>
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
/** Reports held per pool while they wait (or while KV fails): past this, new ones are dropped (their reservations slide out). */
const MAX_PENDING_REPORTS = 1000
/**
 * A report not written within this long (KV kept failing, or a commit keeps being refused) is dropped: applied later it
 * would count an old throttle or failure as news, and its reservation has slid out of the rolling windows by then.
 */
export const REPORT_MAX_AGE_MS = 60_000
/** How long a report waits for its pool's next update to ride before it is written on its own. */
export const REPORT_DELAY_MS = 50
/** After the committed copy lost a race, the next updates read first for this long (other instances are writing). */
const COPY_REST_MS = 1000
/**
 * How long one KV call (a read, a commit) may take. A call that never settles would otherwise hold its pool's queue,
 * and every later update of the pool behind it, for good; past this the update fails (acquires fail open).
 */
export const KV_CALL_TIMEOUT_MS = 5000
/** A flush that failed is tried again after this, doubling up to FLUSH_RETRY_MAX_MS while it keeps failing. */
const FLUSH_RETRY_MS = 200
const FLUSH_RETRY_MAX_MS = 10_000
/** Dropped reports are logged at most this often per store. */
const DROP_LOG_MS = 10_000

/** A report waiting to be written, and when it was queued. */
interface PendingReport {
  outcome: AttemptOutcome
  at: number
}

/** Whether the pool's state has a quota-groups key (its last key, or last but one before the day ledgers' key: keysOf). */
const hasQuotaGroups = (pool: PoolConfig) => pool.deployments.some((d) => d.quotaGroup !== undefined)
/**
 * Whether the pool's state has its quota groups' day ledgers key (after the groups key): a group with `tokensPerDay`.
 * A key of its own, so the groups key keeps the layout earlier versions read (a rolling deploy's older instances).
 */
const hasGroupDays = (pool: PoolConfig) => pool.deployments.some((d) => d.quotaGroup !== undefined && d.tokensPerDay !== undefined)

/** Keys the prompt-cache affinity map is split over (each under 64 KiB for a full map held by several deployments). */
const AFFINITY_SHARDS = 4

/** The map split by key: absent where a shard has no key. */
function affinityShards(map: PoolState['affinity']): Array<PoolState['affinity']> {
  const shards: Array<PoolState['affinity']> = []
  if (!map) return shards
  for (const key in map) {
    let h = 0
    for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) >>> 0
    ;(shards[h % AFFINITY_SHARDS] ??= {})[key] = map[key]
  }
  return shards
}

/** An acquire dropped unanswered: its caller has routed on the local estimate by then (fail-open.ts). */
class StaleAcquire extends Error {
  constructor() {
    super('Deno KV: acquire dropped, its caller stopped waiting')
  }
}

/** A KV call that did not settle within KV_CALL_TIMEOUT_MS; `mayHaveLanded`: it was a commit, which may still go through. */
class KvCallTimeout extends Error {
  constructor(
    what: string,
    ms: number,
    readonly mayHaveLanded: boolean,
  ) {
    super(`Deno KV: ${what} did not settle within ${ms} ms`)
  }
}

export class DenoKvStateStore implements StateStore, LeaseBackend {
  /**
   * Updates from this instance to one state (a pool, or the pools a quota group joins: `stateKey`) run one at a
   * time, so only other instances can conflict.
   */
  private readonly queues = new Map<string, Promise<unknown>>()
  /** Reports waiting to be written: they ride along the next update of their pool (one commit for many). */
  private readonly pending = new Map<string, PendingReport[]>()
  /** The newest config of each pool with reports pending (what `flush` writes them with). */
  private readonly pendingPools = new Map<string, PoolConfig>()
  /** Per pool, the write that carries its pending reports if no update comes first, and the newest config they came with. */
  private readonly flushes = new Map<string, { done: Promise<void>; pool: PoolConfig }>()
  /** Per pool, the delay before the next try of a flush that failed (absent: the last update went through). */
  private readonly flushRetry = new Map<string, number>()
  private droppedLoggedAt = -Infinity
  private droppedSinceLog = 0
  /** Per pool, what this instance last committed: decided on without a read while nobody else writes. */
  private readonly copies = new Map<string, CommittedCopy>()
  /** Per pool, when the copy last lost a race (reads come first for a while after). */
  private readonly copyLostAt = new Map<string, number>()
  /**
   * KV operations made, for tests and the bench: reads (getMany batches) and commits; reports dropped (the queue
   * full while KV failed, or written by a commit that timed out and may yet land: their reservations slide out of
   * the window instead); calls timed out.
   */
  readonly ops = { reads: 0, commits: 0, droppedReports: 0, timeouts: 0 }

  /**
   * @param staleAfterMs an acquire still queued after this long is dropped (the caller has routed on its local
   * estimate by then, see fail-open.ts); its reservation would only hold capacity nobody uses.
   * @param callTimeoutMs how long one KV call may take (KV_CALL_TIMEOUT_MS).
   */
  constructor(
    private readonly kv: KvLike,
    private readonly prefix: string = 'bedrock-router',
    private readonly staleAfterMs: number = 500,
    private readonly callTimeoutMs: number = KV_CALL_TIMEOUT_MS,
  ) {}

  /** `call`, or a KvCallTimeout once it has taken callTimeoutMs. */
  private within<T>(call: Promise<T>, what: string, mayHaveLanded: boolean): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KvCallTimeout(what, this.callTimeoutMs, mayHaveLanded)), this.callTimeoutMs)
    })
    return Promise.race([call, late]).finally(() => clearTimeout(timer))
  }

  acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    if (previous) this.queue(pool, previous)
    const expires = Date.now() + this.staleAfterMs
    return this.update(
      pool,
      (state, now) => {
        if (now > expires) throw new StaleAcquire()
        return acquireOn(pool, state, estimate, tried, undefined, now, Math.random)
      },
      expires,
    )
  }

  /**
   * Queues the report for the pool's next update; if none comes within REPORT_DELAY_MS, writes it then. Resolves
   * once that write is done (the engine does not wait: reports run after the answer).
   */
  report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    this.queue(pool, outcome)
    return this.scheduleFlush(pool, REPORT_DELAY_MS)
  }

  /**
   * Writes every report still waiting, now (a clean shutdown: the Deno entry calls it on SIGTERM/SIGINT). Resolves
   * when the writes are done or have failed.
   */
  async flush(deadlineMs = 4000): Promise<void> {
    const until = Date.now() + deadlineMs
    // Updates already under way first (they took their pools' reports with them), then what is still pending; again
    // while a failed write put reports back, until the deadline.
    for (;;) {
      const inFlight = [...this.queues.values()]
      const pools = [...this.pendingPools.values()]
      if (inFlight.length === 0 && pools.length === 0) return
      await Promise.allSettled([...inFlight, ...pools.map((pool) => this.update(pool, () => undefined))])
      if (Date.now() >= until) return
      if (this.pendingPools.size > 0) await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /**
   * The write that carries the pool's pending reports in `delayMs`, unless one is waiting already — which takes `pool`
   * when it is `newest` (a report's, just arrived), not when it is a retry's (its config may be older).
   */
  private scheduleFlush(pool: PoolConfig, delayMs: number, newest = true): Promise<void> {
    const waiting = this.flushes.get(pool.name)
    if (waiting) {
      if (newest) waiting.pool = pool
      return waiting.done
    }
    const flush = { pool, done: Promise.resolve() }
    flush.done = new Promise<void>((resolve) => setTimeout(resolve, delayMs))
      .then(() => {
        this.flushes.delete(pool.name)
        return this.update(flush.pool, () => undefined)
      })
      .then(() => undefined)
    // Handled here: a flush nobody waits for (a retry) must not surface as an unhandled rejection.
    flush.done.catch(() => {})
    this.flushes.set(pool.name, flush)
    return flush.done
  }

  /** For /metrics: KV reads and commits, reports dropped, calls timed out. */
  counters(): Record<string, number> {
    return { kvReads: this.ops.reads, kvCommits: this.ops.commits, kvReportsDropped: this.ops.droppedReports, kvTimeouts: this.ops.timeouts }
  }

  /** A lease renewal (routing/lease.ts): the report applied and the next slices granted, in one read-modify-write. */
  lease(pool: PoolConfig, report: LeaseReport, validMs: number): Promise<LeaseAnswer> {
    return this.update(pool, (state, now) => {
      applyLeaseReport(pool, state, report, now)
      return grantLeases(pool, state, report.wants, validMs, now, report.affinity)
    })
  }

  async snapshot(pool: PoolConfig): Promise<unknown> {
    return snapshot(pool, (await this.read(pool)).state, Date.now())
  }

  /**
   * A pool's keys: meta, one per deployment, the prompt-cache affinity map in AFFINITY_SHARDS keys (a full map of
   * 1,000 keys held by two deployments is over 64 KiB on its own), its change log with leases, and its quota groups'
   * shared key if it has any, and then their day ledgers' key if a group has a day quota.
   */
  private keysOf(pool: PoolConfig): unknown[][] {
    const keys: unknown[][] = [[this.prefix, pool.name, 'meta'], ...pool.deployments.map((d) => [this.prefix, pool.name, 'd', d.id])]
    if (affinityOf(pool).enabled) for (let i = 0; i < AFFINITY_SHARDS; i++) keys.push([this.prefix, pool.name, 'a', i])
    if (pool.leases) keys.push([this.prefix, pool.name, 'alog'])
    // Quota-group windows under a key of their own, shared by every pool the groups join (stateKey).
    if (hasQuotaGroups(pool)) keys.push(this.groupsKey(pool))
    if (hasGroupDays(pool)) keys.push(this.groupDaysKey(pool))
    return keys
  }

  /**
   * A pool's state from its keys (at most 10 per getMany) or from the committed copy, with every entry (for the
   * commit's checks) and each key's JSON as stored (to write only what changed). A pool still in the single key of
   * earlier versions is read from it.
   */
  private async read(pool: PoolConfig, keys = this.keysOf(pool), copy?: CommittedCopy): Promise<{ state: PoolState; entries: Array<{ key: unknown[]; versionstamp: string | null }>; before: Map<string, string>; legacy: boolean }> {
    const grouped = hasQuotaGroups(pool)
    const withDays = hasGroupDays(pool)
    /** The groups key's place: last, or before the day ledgers' key. */
    const groupsAt = keys.length - 1 - (withDays ? 1 : 0)
    const entries: Array<{ key: unknown[]; value: unknown; versionstamp: string | null }> = []
    if (copy) {
      // What this instance last committed, parsed afresh (the update mutates it); the commit checks it is still so.
      keys.forEach((key, i) => entries.push({ key, value: copy.texts[i] === null ? null : JSON.parse(copy.texts[i]!), versionstamp: copy.versionstamps[i] }))
    } else {
      for (let i = 0; i < keys.length; i += KV_BATCH) {
        this.ops.reads++
        entries.push(...(await this.within(this.kv.getMany<unknown>(keys.slice(i, i + KV_BATCH)), 'a read', false)))
      }
    }
    const before = new Map<string, string>()
    // Each key's JSON as stored: the copy holds it already; a value read is serialised here, once.
    const textAt = (i: number) => (copy ? (copy.texts[i] ?? '') : entries[i].value === null ? '' : JSON.stringify(entries[i].value))
    const meta = entries[0].value as Omit<PoolState, 'deployments'> | null
    if (meta === null && entries.slice(0, pool.deployments.length + 1).every((e) => e.value === null)) {
      const old = await this.within(this.kv.get<PoolState>([this.prefix, pool.name]), 'a read', false)
      if (old.value) {
        // A shared group window (another pool's) wins over one the old layout kept inside this pool.
        const shared = grouped ? (entries[groupsAt].value as PoolState['quotaGroups'] | null) : null
        if (shared) old.value.quotaGroups = { ...old.value.quotaGroups, ...shared }
        const days = withDays ? (entries[keys.length - 1].value as PoolState['quotaGroupDays'] | null) : null
        if (days) old.value.quotaGroupDays = days
        return { state: old.value, entries: [...entries, old], before, legacy: true }
      }
    }
    const state: PoolState = { ...(meta ?? { version: 1 }), deployments: {} }
    before.set('meta', textAt(0))
    pool.deployments.forEach((d, i) => {
      const value = entries[i + 1].value as PoolState['deployments'][string] | null
      if (value !== null) state.deployments[d.id] = value
      before.set(d.id, textAt(i + 1))
    })
    delete state.quotaGroups
    delete state.quotaGroupDays
    let at = pool.deployments.length + 1
    if (affinityOf(pool).enabled) {
      // Merged over what meta held (a pool written before the map had keys of its own moves out of meta at its next commit).
      for (let i = 0; i < AFFINITY_SHARDS; i++, at++) {
        const shard = entries[at].value as PoolState['affinity'] | null
        if (shard) state.affinity = { ...state.affinity, ...shard }
        before.set(`#a${i}`, textAt(at))
      }
    }
    if (pool.leases) {
      const log = entries[at].value as PoolState['affinityLog'] | null
      if (log) state.affinityLog = log
      before.set('#alog', textAt(at))
    }
    if (grouped) {
      const groups = (entries[groupsAt].value ?? null) as PoolState['quotaGroups'] | null
      state.quotaGroups = groups ?? {}
      before.set('#groups', textAt(groupsAt))
    }
    if (withDays) {
      const days = (entries[keys.length - 1].value ?? null) as PoolState['quotaGroupDays'] | null
      state.quotaGroupDays = days ?? {}
      before.set('#groupDays', textAt(keys.length - 1))
    }
    return { state, entries, before, legacy: false }
  }

  private groupsKey(pool: PoolConfig): unknown[] {
    return [this.prefix, '#groups', pool.stateKey ?? pool.name]
  }

  private groupDaysKey(pool: PoolConfig): unknown[] {
    return [this.prefix, '#groupDays', pool.stateKey ?? pool.name]
  }

  /**
   * Adds an accounting batch: rows are merged into their hour's row of the same combination, STATS_CHUNK per atomic
   * commit with versionstamp checks (retried on conflict), so batches from any number of instances add up exactly;
   * then the failovers. A failure says what was not written (StatsWriteError): the chunks committed before it are not
   * sent again, nor a chunk whose commit timed out (it may have landed: its rows are dropped, as the reports of a
   * timed-out commit are).
   */
  async addStats(batch: StatsBatch): Promise<void> {
    for (let i = 0; i < batch.rows.length; i += STATS_CHUNK) {
      try {
        await this.addStatRows(batch.rows.slice(i, i + STATS_CHUNK))
      } catch (e) {
        const mayHaveLanded = e instanceof KvCallTimeout && e.mayHaveLanded
        throw new StatsWriteError(`Deno KV: accounting rows not written: ${(e as Error)?.message ?? e}`, { rows: batch.rows.slice(mayHaveLanded ? i + STATS_CHUNK : i), failovers: batch.failovers })
      }
    }
    const expireIn = 24 * HOUR_MS
    for (const [i, f] of batch.failovers.entries()) {
      try {
        await this.within(this.kv.atomic().set([this.prefix, 'failovers', f.at, crypto.randomUUID()], f, { expireIn }).commit(), 'a commit', true)
      } catch (e) {
        const mayHaveLanded = e instanceof KvCallTimeout && e.mayHaveLanded
        throw new StatsWriteError(`Deno KV: failovers not written: ${(e as Error)?.message ?? e}`, { rows: [], failovers: batch.failovers.slice(mayHaveLanded ? i + 1 : i) })
      }
    }
  }

  private async addStatRows(rows: StatsRow[]): Promise<void> {
    const keyOf = (r: StatsRow) => [this.prefix, 'stats', r.hour, rowKey(r)]
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      try {
        const entries = await this.within(this.kv.getMany<StatsRow>(rows.map(keyOf)), 'a read', false)
        const op = this.kv.atomic().check(...entries)
        const written = new Map<string, StatsRow>()
        for (const [i, incoming] of rows.entries()) {
          const k = rowKey(incoming)
          const merged: StatsRow = written.get(k) ?? entries[i].value ?? { ...incoming, c: emptyCounters() }
          mergeCounters(merged.c, incoming.c)
          written.set(k, merged)
        }
        for (const row of written.values()) op.set(keyOf(row), row, { expireIn: STATS_RETENTION_MS })
        if ((await this.within(op.commit(), 'a commit', true)).ok) return
      } catch (e) {
        if (e instanceof KvCallTimeout) this.ops.timeouts++
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
    if (list.length < MAX_PENDING_REPORTS) list.push({ outcome, at: Date.now() })
    else this.dropped(pool, 1, 'the queue of reports is full (Deno KV keeps failing)')
    this.pending.set(pool.name, list)
    this.pendingPools.set(pool.name, pool)
  }

  /** Counts reports that will never be written, and says so in the log (at most once every DROP_LOG_MS). */
  private dropped(pool: PoolConfig, count: number, why: string) {
    this.ops.droppedReports += count
    this.droppedSinceLog += count
    const now = Date.now()
    if (now - this.droppedLoggedAt < DROP_LOG_MS) return
    console.error(JSON.stringify({ msg: 'deno kv: attempt reports dropped; their reservations slide out of the windows instead', pool: pool.name, dropped: this.droppedSinceLog, why }))
    this.droppedLoggedAt = now
    this.droppedSinceLog = 0
  }

  /** Runs `change` after recording every pending report, in one commit; updates to one pool run in order. */
  private update<T>(pool: PoolConfig, change: (state: PoolState, now: number) => T, expires?: number): Promise<T> {
    const queueKey = pool.stateKey ?? pool.name
    const previous = this.queues.get(queueKey) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(async () => {
      // An acquire whose caller stopped waiting while it queued: dropped before any KV call (its place in the queue is
      // one round trip for every update behind it); the reports it would have carried wait for their own flush.
      if (expires !== undefined && Date.now() > expires) {
        if (this.pending.has(pool.name)) void this.scheduleFlush(this.pendingPools.get(pool.name) ?? pool, REPORT_DELAY_MS)
        throw new StaleAcquire()
      }
      const waiting = this.pending.get(pool.name) ?? []
      this.pending.delete(pool.name)
      this.pendingPools.delete(pool.name)
      const oldest = Date.now() - REPORT_MAX_AGE_MS
      const reports = waiting[0] && waiting[0].at < oldest ? waiting.filter((r) => r.at >= oldest) : waiting
      if (reports.length < waiting.length) this.dropped(pool, waiting.length - reports.length, `not written within ${REPORT_MAX_AGE_MS / 1000} s (Deno KV keeps failing)`)
      if (reports.length === 0 && change.length === 0) return undefined as T // nothing left to write
      try {
        const result = await this.commit(pool, (state, now) => {
          for (const r of reports) record(pool, state, r.outcome, now)
          return change(state, now)
        })
        this.flushRetry.delete(pool.name)
        return result
      } catch (e) {
        if (reports.length === 0) throw e
        if (e instanceof KvCallTimeout && e.mayHaveLanded) {
          // The commit may still go through: writing these again could count them twice. Dropped instead.
          this.dropped(pool, reports.length, e.message)
          throw e
        }
        // The reports were not written: keep them, and write them later even if no request comes (backing off while
        // KV fails). Bounded like the queue: the oldest reports are kept and the rest dropped.
        const kept = [...reports, ...(this.pending.get(pool.name) ?? [])]
        if (kept.length > MAX_PENDING_REPORTS) this.dropped(pool, kept.length - MAX_PENDING_REPORTS, 'the queue of reports is full (Deno KV keeps failing)')
        this.pending.set(pool.name, kept.slice(0, MAX_PENDING_REPORTS))
        // A report that came meanwhile brought a newer config: it stays (this update's may be older).
        if (!this.pendingPools.has(pool.name)) this.pendingPools.set(pool.name, pool)
        const delay = this.flushRetry.get(pool.name) ?? FLUSH_RETRY_MS
        this.flushRetry.set(pool.name, Math.min(FLUSH_RETRY_MAX_MS, delay * 2))
        void this.scheduleFlush(this.pendingPools.get(pool.name)!, delay, false)
        throw e
      }
    })
    this.queues.set(queueKey, next)
    void next.finally(() => {
      if (this.queues.get(queueKey) === next) this.queues.delete(queueKey)
    }).catch(() => {})
    return next
  }

  /** Read-modify-write with versionstamp checks, writing only the keys that changed; retries with jitter on conflict. */
  private async commit<T>(pool: PoolConfig, change: (state: PoolState, now: number) => T): Promise<T> {
    const keys = this.keysOf(pool)
    const keyList = JSON.stringify(keys)
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const held = this.copies.get(pool.name)
      const copy = held?.keyList === keyList && Date.now() - (this.copyLostAt.get(pool.name) ?? -Infinity) > COPY_REST_MS ? held : undefined
      this.copies.delete(pool.name)
      try {
        const { state, entries, before, legacy } = await this.read(pool, keys, copy)
        for (const d of pool.deployments) state.deployments[d.id] ??= createDeploymentState()
        prunePoolState(pool, state)
        let result: T
        try {
          result = change(state, Date.now())
        } catch (e) {
          // Nothing was written (a stale acquire, say): the copy still holds, for the next update to decide on.
          if (copy) this.copies.set(pool.name, copy)
          throw e
        }
        const op = this.kv.atomic().check(...entries)
        const { deployments, quotaGroups, quotaGroupDays, affinity, affinityLog, ...meta } = state
        // Without its own keys (affinity off) the map stays in meta, as before.
        if (!affinityOf(pool).enabled && affinity) (meta as PoolState).affinity = affinity
        // Each key's JSON after this commit (null: absent), and whether the commit writes it.
        const texts: Array<string | null> = []
        const written: boolean[] = []
        const put = (key: unknown[], value: unknown, text: string, old: string | undefined) => {
          const changed = legacy || text !== old
          if (changed) op.set(key, value, { expireIn: EXPIRE_MS })
          texts.push(text)
          written.push(changed)
        }
        put([this.prefix, pool.name, 'meta'], meta, JSON.stringify(meta), before.get('meta'))
        for (const d of pool.deployments) put([this.prefix, pool.name, 'd', d.id], deployments[d.id], JSON.stringify(deployments[d.id]), before.get(d.id))
        // An empty shard, or no log, is no key: absent stays absent, and one emptied is deleted.
        const putOrDrop = (key: unknown[], value: unknown, old: string | undefined) => {
          if (value !== undefined) return put(key, value, JSON.stringify(value), old)
          const changed = legacy || (old !== undefined && old !== '')
          if (changed) op.delete(key)
          texts.push(null)
          written.push(changed)
        }
        if (affinityOf(pool).enabled) {
          const shards = affinityShards(affinity)
          for (let i = 0; i < AFFINITY_SHARDS; i++) putOrDrop([this.prefix, pool.name, 'a', i], shards[i], before.get(`#a${i}`))
        }
        if (pool.leases) putOrDrop([this.prefix, pool.name, 'alog'], affinityLog, before.get('#alog'))
        if (quotaGroups) put(this.groupsKey(pool), quotaGroups, JSON.stringify(quotaGroups), before.get('#groups'))
        const withDays = hasGroupDays(pool)
        if (withDays) put(this.groupDaysKey(pool), quotaGroupDays ?? {}, JSON.stringify(quotaGroupDays ?? {}), before.get('#groupDays'))
        if (legacy) op.delete([this.prefix, pool.name])
        this.ops.commits++
        const commit = await this.within(op.commit(), 'a commit', true)
        if (commit.ok) {
          // Keep what was committed: the keys written now carry the commit's versionstamp, the others the one read.
          if (!legacy && commit.versionstamp && texts.length === entries.length) {
            this.copies.set(pool.name, { keyList, texts, versionstamps: entries.map((e, i) => (texts[i] === null ? null : written[i] ? commit.versionstamp! : e.versionstamp)) })
          }
          // Pools sharing this quota-group key (or its days' key) hold its old versionstamp: they read it next (not commit, fail, read).
          if (quotaGroups && (written.at(-1) || (withDays && written.at(-2)))) {
            const shared = JSON.stringify(this.groupsKey(pool))
            for (const [name, other] of this.copies) if (name !== pool.name && other.keyList.includes(shared)) this.copies.delete(name)
          }
          return result
        }
        if (copy) {
          // Another instance wrote the pool since this one did: read before deciding for a while.
          this.copyLostAt.set(pool.name, Date.now())
          continue
        }
      } catch (e) {
        // A local (SQLite) KV opened by several processes answers "database is locked" under contention:
        // the same as a lost race, so try again. Anything else is a real failure.
        if (e instanceof KvCallTimeout) this.ops.timeouts++
        if (!/locked|busy/i.test(String((e as Error)?.message))) throw e
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)))
    }
    throw new Error(`Deno KV: pool ${pool.name} state stayed contended for ${MAX_TRIES} tries`)
  }
}
