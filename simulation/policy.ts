/** What the simulator drives: a router deciding attempts and learning from their outcomes. */
import type { PoolConfig } from '../src/config/types'
import type { AttemptOutcome, Decision, RequestEstimate, UpstreamResult } from '../src/routing/types'

export interface RoutingPolicy {
  readonly name: string
  decide(req: RequestEstimate, tried: readonly string[], now: number, rng: () => number): Decision
  record(outcome: AttemptOutcome, now: number): void
  /** Whether to try another deployment after this failure (default: classify.ts `failoverAllowed`). */
  failoverAllowed?(result: UpstreamResult): boolean
  /** Attempts per request (default: the pool's maxAttempts). */
  readonly maxAttempts?: number
}

/** The true state of the simulated upstream, for oracle policies. */
export interface UpstreamView {
  hasRoom(deploymentId: string, now: number, tokens: number): boolean
  headroom(deploymentId: string, now: number, tokens: number): number
  /** Every request to it fails now (a hard outage). */
  isDown(deploymentId: string, now: number): boolean
}

export type PolicyFactory = (pool: PoolConfig, upstream: UpstreamView) => RoutingPolicy
