/** StateStore client for the Durable Object backend: one RPC per call to the pool's object. */
import type { PoolConfig } from '../config/types'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'
import type { RouterStateObject } from './durable-object'
import type { StateStore } from './types'

export class DurableObjectStateStore implements StateStore {
  constructor(private readonly namespace: DurableObjectNamespace<RouterStateObject>) {}

  private stub(pool: PoolConfig) {
    return this.namespace.get(this.namespace.idFromName(pool.name))
  }

  acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    return this.stub(pool).acquire(pool, estimate, [...tried], previous) as Promise<Decision>
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    await this.stub(pool).report(pool, outcome)
  }

  snapshot(pool: PoolConfig): Promise<unknown> {
    return this.stub(pool).snapshot(pool) as Promise<unknown>
  }
}
