/**
 * Where routing state lives. Every backend runs the same pure routing core (routing/core.ts) on its copy of a
 * pool's state; they differ only in where that state is kept and how atomically it is updated:
 * memory (one process), Durable Objects (global, on Workers), Deno KV (global, on Deno). The same backends keep the
 * accounting rows (stats/), which only ever add up.
 */
import type { PoolConfig } from '../config/types'
import type { LeaseAnswer, LeaseReport } from '../routing/lease'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import type { FailoverEvent, StatsBatch, StatsRow } from '../stats/rollup'

export interface StateStore {
  /**
   * Picks a deployment for the next attempt and reserves its quota, atomically, in one round trip.
   * `previous` (the outcome of the attempt that just failed, if any) is recorded first, in the same step.
   */
  acquire(
    pool: PoolConfig,
    estimate: RequestEstimate,
    tried: readonly string[],
    previous?: AttemptOutcome,
  ): Promise<Decision>
  /** Records a finished attempt: reconciles the reservation, feeds breaker and latency. Off the hot path. */
  report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void>
  /** Per-deployment view for /health and stats. */
  snapshot(pool: PoolConfig): Promise<unknown>
  /** Adds an isolate's batch of accounting rows (stats/rollup.ts) to the shared totals. Off the hot path. */
  addStats(batch: StatsBatch): Promise<void>
  /** The accounting rows of the hours overlapping [from, to), and the recent failovers in it. */
  readStats(from: number, to: number): Promise<StatsRead>
  /** This isolate's counts of its calls to the shared state, by kind (for /metrics); absent for stores without calls. */
  counters?(): Record<string, number>
  /** Writes now what waits to be written later (reports batched into a later write), for a clean shutdown. */
  flush?(): Promise<void>
}

/**
 * A store that can grant leases (routing/lease.ts): apply an isolate's report and grant its next slices, atomically,
 * in one round trip. The Durable Object and the memory store can; state/leases.ts is the isolate's side.
 */
export interface LeaseBackend {
  lease(pool: PoolConfig, report: LeaseReport, validMs: number): Promise<LeaseAnswer>
}

/**
 * An `addStats` that wrote part of its batch: `unwritten` is what a retry may send again. Without it a caller must
 * assume nothing was written — and a retry of a batch that partly landed would count its rows twice.
 */
export class StatsWriteError extends Error {
  constructor(
    message: string,
    readonly unwritten: StatsBatch,
  ) {
    super(message)
  }
}

export interface StatsRead {
  rows: StatsRow[]
  failovers: FailoverEvent[]
}
