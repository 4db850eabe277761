/**
 * Creating and looking up pool state. Deployments can be added to or removed from the config at any time: state for
 * unknown ids is ignored (and can be dropped with `prunePoolState`), missing ids are created on first use.
 */
import type { PoolConfig } from '../config/types'
import { createBreakerState } from './breaker'
import { createLatencyStat } from './latency'
import type { DeploymentState, PoolState } from './types'
import { upgradeUsage } from './window'

export function createDeploymentState(): DeploymentState {
  return {
    usage: [],
    breaker: createBreakerState(),
    cooldown: null,
    consecutiveThrottles: 0,
    learned: null,
    latency: { converse: createLatencyStat(), stream: createLatencyStat() },
  }
}

export function createPoolState(pool: PoolConfig): PoolState {
  const state: PoolState = { version: 1, deployments: {} }
  for (const deployment of pool.deployments) state.deployments[deployment.id] = createDeploymentState()
  return state
}

/** The state of deployment `id`, created if missing. */
export function deploymentState(state: PoolState, id: string): DeploymentState {
  let found = Object.hasOwn(state.deployments, id) ? state.deployments[id] : undefined
  if (!found) {
    found = createDeploymentState()
    state.deployments[id] = found
  }
  upgradeUsage(found.usage) // state persisted by an earlier version
  return found
}

/** Drops state of deployments no longer in the config. */
export function prunePoolState(pool: PoolConfig, state: PoolState): void {
  const known = new Set(pool.deployments.map((d) => d.id))
  for (const id of Object.keys(state.deployments)) if (!known.has(id)) delete state.deployments[id]
}
