/**
 * When the shared store is slow or unreachable, routing must not hang: after `timeoutMs` (or on an error) the
 * request is decided on this isolate's local estimate instead (fail open), and its outcome is reported to the
 * local store too. Limits then hold per isolate rather than globally until the shared store answers again;
 * one log line says so. A reservation the shared store made but answered too late is never reported, and
 * frees itself when its window slides past (at most 60 s).
 */
import type { PoolConfig } from '../config/types'
import type { AttemptOutcome, Decision, Reservation, RequestEstimate } from '../routing/types'
import type { StatsBatch } from '../stats/rollup'
import type { StateStore, StatsRead } from './types'

export class FailOpenStateStore implements StateStore {
  /** Reservations made by the local store, so their outcomes go back to it. */
  private readonly localReservations = new WeakSet<Reservation>()
  /** Until when to skip the shared store after a failure (a short back-off, so a dead store costs no latency). */
  private skipUntil = 0

  constructor(
    private readonly shared: StateStore,
    private readonly local: StateStore,
    private readonly timeoutMs: number,
    private readonly backoffMs = 1000,
  ) {}

  async acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    const previousIsLocal = previous?.reservation !== undefined && this.localReservations.has(previous.reservation)
    let sharedHasPrevious = false
    if (Date.now() >= this.skipUntil && !previousIsLocal) {
      // Once handed to the shared store, `previous` is its to record: a late RPC still lands, and a failed
      // one is queued again by the store itself. Reporting it here too would count it twice.
      sharedHasPrevious = previous !== undefined
      try {
        return await withTimeout(this.shared.acquire(pool, estimate, tried, previous), this.timeoutMs)
      } catch (e) {
        this.degrade('acquire', e)
      }
    }
    if (previous && !previousIsLocal && !sharedHasPrevious) void this.shared.report(pool, previous).catch(() => {})
    const decision = await this.local.acquire(pool, estimate, tried, previousIsLocal ? previous : undefined)
    if (decision.kind === 'dispatch') this.localReservations.add(decision.reservation)
    return decision
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    if (outcome.reservation && this.localReservations.has(outcome.reservation)) return this.local.report(pool, outcome)
    await this.shared.report(pool, outcome)
  }

  async snapshot(pool: PoolConfig): Promise<unknown> {
    try {
      return await withTimeout(this.shared.snapshot(pool), this.timeoutMs)
    } catch (e) {
      this.degrade('snapshot', e)
      return { source: 'local', deployments: await this.local.snapshot(pool) }
    }
  }

  /** Accounting goes to the shared store only (a failed write stays with the recorder for its next flush). */
  addStats(batch: StatsBatch): Promise<void> {
    return this.shared.addStats(batch)
  }

  readStats(from: number, to: number): Promise<StatsRead> {
    return withTimeout(this.shared.readStats(from, to), Math.max(this.timeoutMs, 5000))
  }

  counters(): Record<string, number> {
    return this.shared.counters?.() ?? {}
  }

  async flush(): Promise<void> {
    await this.shared.flush?.()
  }

  private degrade(op: string, e: unknown) {
    this.skipUntil = Date.now() + this.backoffMs
    console.warn(JSON.stringify({ msg: 'shared state unavailable; routing on local estimate', op, error: e instanceof Error ? e.message : String(e) }))
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`shared state did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
