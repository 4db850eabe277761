/**
 * In-memory StateStore: one process (or one isolate) owns the state. Used by unit tests, by single-process
 * deployments, and as the local estimate when a shared store is unreachable.
 */
import type { PoolConfig } from '../config/types'
import { createPoolState, record, snapshot, type PoolState } from '../routing/core'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import { acquireOn } from './apply'
import { applyLeaseReport, grantLeases, type LeaseAnswer, type LeaseReport } from '../routing/lease'
import { StatsLedger } from '../stats/ledger'
import type { StatsBatch } from '../stats/rollup'
import type { LeaseBackend, StateStore, StatsRead } from './types'

export class MemoryStateStore implements StateStore, LeaseBackend {
  private readonly pools = new Map<string, PoolState>()
  /** Quota-group windows, shared by every pool of this store (a group may span pools). */
  private readonly groups: NonNullable<PoolState['quotaGroups']> = {}
  /** Quota groups' day ledgers (`tokensPerDay`), shared the same way. */
  private readonly groupDays: NonNullable<PoolState['quotaGroupDays']> = {}
  private stats = new StatsLedger()

  constructor(
    private readonly now: () => number = Date.now,
    private readonly rng: () => number = Math.random,
  ) {}

  private state(pool: PoolConfig): PoolState {
    let state = this.pools.get(pool.name)
    if (!state) {
      state = createPoolState(pool)
      state.quotaGroups = this.groups
      state.quotaGroupDays = this.groupDays
      this.pools.set(pool.name, state)
    }
    return state
  }

  async acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    return acquireOn(pool, this.state(pool), estimate, tried, previous, this.now(), this.rng)
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    record(pool, this.state(pool), outcome, this.now())
  }

  async lease(pool: PoolConfig, report: LeaseReport, validMs: number): Promise<LeaseAnswer> {
    const state = this.state(pool)
    const now = this.now()
    applyLeaseReport(pool, state, report, now)
    // A copy, as an RPC would deliver it: the isolate's local state must not share objects with this one.
    return structuredClone(grantLeases(pool, state, report.wants, validMs, now, report.affinity))
  }

  async snapshot(pool: PoolConfig) {
    return snapshot(pool, this.state(pool), this.now())
  }

  async addStats(batch: StatsBatch): Promise<void> {
    this.stats.add(structuredClone(batch), this.now())
  }

  async readStats(from: number, to: number): Promise<StatsRead> {
    return this.stats.read(from, to)
  }

  /** Forgets the accounting (the in-process router's resetStats). */
  clearStats(): void {
    this.stats = new StatsLedger()
  }
}
