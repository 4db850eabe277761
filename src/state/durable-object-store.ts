/**
 * StateStore client for the Durable Object backend. `acquire` is one RPC to the pool's object. Reports are
 * batched per isolate: they ride along the next `acquire` to the same pool, or go in one `report` RPC after
 * REPORT_BATCH_MS when no acquire comes first — so under load a request costs about one RPC, not two.
 * Batches hold plain data only; every request that reports keeps its own timer alive (no promise is shared
 * between requests, which Workers does not allow).
 */
import type { PoolConfig } from '../config/types'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import type { RouterStateObject } from './durable-object'
import type { StatsBatch } from '../stats/rollup'
import type { LeaseBackend, StateStore, StatsRead } from './types'
import type { LeaseAnswer, LeaseReport } from '../routing/lease'
import { fingerprintOf, UNKNOWN_CONFIG, type PoolRef } from './pool-ref'

const REPORT_BATCH_MS = 50
/** The object that keeps accounting: a name no pool can have (pool names never contain '#'). */
const STATS_OBJECT = '#stats'

export class DurableObjectStateStore implements StateStore, LeaseBackend {
  private readonly pending = new Map<string, { pool: PoolConfig; outcomes: AttemptOutcome[] }>()
  /** Fingerprints this isolate has sent the config of (the object then knows them unless it restarted). */
  private readonly sent = new Set<string>()
  /** Calls this isolate made to the objects, by kind (/metrics). */
  private readonly calls: Record<string, number> = { acquire: 0, report: 0, lease: 0 }

  constructor(private readonly namespace: DurableObjectNamespace<RouterStateObject>) {}

  private stub(pool: PoolConfig) {
    return this.namespace.get(this.namespace.idFromName(pool.stateKey ?? pool.name))
  }

  private take(pool: PoolConfig): AttemptOutcome[] {
    const batch = this.pending.get(pool.name)
    this.pending.delete(pool.name)
    return batch?.outcomes ?? []
  }

  /** The pool by fingerprint, with its config the first time (or when `force`d after UNKNOWN_CONFIG). */
  private ref(pool: PoolConfig, force = false): PoolRef {
    const fingerprint = `${pool.name}:${fingerprintOf(pool)}`
    if (!force && this.sent.has(fingerprint)) return { name: pool.name, fingerprint }
    if (this.sent.size > 64) this.sent.clear()
    this.sent.add(fingerprint)
    return { name: pool.name, fingerprint, config: pool }
  }

  /** One call naming the pool by fingerprint; sent again with the config when the object does not know it. */
  private async call(pool: PoolConfig, kind: string, send: (ref: PoolRef) => Promise<unknown>): Promise<unknown> {
    this.calls[kind]++
    let answer = await send(this.ref(pool))
    if (answer === UNKNOWN_CONFIG) (this.calls[kind]++, (answer = await send(this.ref(pool, true))))
    if (answer === UNKNOWN_CONFIG) throw new Error(`the state object did not take pool ${pool.name}'s config`)
    return answer
  }

  async acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    const outcomes = this.take(pool)
    if (previous) outcomes.push(previous)
    try {
      const stub = this.stub(pool)
      return (await this.call(pool, 'acquire', (ref) => stub.acquire(ref, estimate, [...tried], outcomes))) as Decision
    } catch (e) {
      this.requeue(pool, outcomes)
      throw e
    }
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    this.requeue(pool, [outcome])
    await new Promise((resolve) => setTimeout(resolve, REPORT_BATCH_MS))
    const outcomes = this.take(pool)
    if (outcomes.length === 0) return // an acquire or another request's timer already sent it
    try {
      const stub = this.stub(pool)
      await this.call(pool, 'report', (ref) => stub.report(ref, outcomes))
    } catch (e) {
      this.requeue(pool, outcomes)
      throw e
    }
  }

  /** A lease renewal (state/leases.ts): one RPC to the pool's object. */
  async lease(pool: PoolConfig, report: LeaseReport, validMs: number): Promise<LeaseAnswer> {
    const stub = this.stub(pool)
    return (await this.call(pool, 'lease', (ref) => stub.lease(ref, report, validMs))) as LeaseAnswer
  }

  counters(): Record<string, number> {
    return { ...this.calls }
  }

  snapshot(pool: PoolConfig): Promise<unknown> {
    return this.stub(pool).snapshot(pool) as Promise<unknown>
  }

  /** Accounting batches (already one per isolate per second) go to one object: its writes are cheap, local SQLite. */
  async addStats(batch: StatsBatch): Promise<void> {
    await this.statsStub().addStats(batch)
  }

  readStats(from: number, to: number): Promise<StatsRead> {
    return this.statsStub().readStats(from, to) as Promise<StatsRead>
  }

  private statsStub() {
    return this.namespace.get(this.namespace.idFromName(STATS_OBJECT))
  }

  private requeue(pool: PoolConfig, outcomes: AttemptOutcome[]) {
    if (outcomes.length === 0) return
    const batch = this.pending.get(pool.name)
    if (batch) batch.outcomes.push(...outcomes)
    else this.pending.set(pool.name, { pool, outcomes: [...outcomes] })
    // Bounded: a store that stays down must not grow the queue without end.
    const current = this.pending.get(pool.name)!
    if (current.outcomes.length > 1000) current.outcomes.splice(0, current.outcomes.length - 1000)
  }
}
