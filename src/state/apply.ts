/**
 * The one state transition every backend performs, on whatever copy of a pool's state it holds: record the
 * previous attempt's outcome (if any), then decide the next attempt and reserve its quota.
 */
import type { PoolConfig } from '../config/types'
import { decide, record, type PoolState } from '../routing/core'
import type { AttemptOutcome, Decision, RequestEstimate } from '../routing/types'

export function acquireOn(
  pool: PoolConfig,
  state: PoolState,
  estimate: RequestEstimate,
  tried: readonly string[],
  previous: AttemptOutcome | undefined,
  now: number,
  rng: () => number,
): Decision {
  if (previous) record(pool, state, previous, now)
  return decide(pool, state, estimate, tried, now, rng)
}
