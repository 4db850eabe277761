/** The real routing engine (decide/record on a PoolState) as a simulator policy. */
import { decide, record } from '../src/routing/core'
import { createPoolState } from '../src/routing/state'
import type { PolicyFactory } from './policy'

export const enginePolicy: PolicyFactory = (pool) => {
  const state = createPoolState(pool)
  return {
    name: pool.strategy,
    decide: (req, tried, now, rng) => decide(pool, state, req, tried, now, rng),
    record: (outcome, now) => record(pool, state, outcome, now),
  }
}
