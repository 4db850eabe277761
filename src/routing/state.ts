/**
 * Creating and looking up pool state. Deployments can be added to or removed from the config at any time: state for
 * unknown ids is ignored (and can be dropped with `prunePoolState`), missing ids are created on first use.
 */
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { createBreakerState, upgradeBreaker } from './breaker'
import { createLatencyStat } from './latency'
import { createPacingState } from './pacing'
import type { DeploymentState, PoolState, UsageBucket } from './types'
import { upgradeUsage } from './window'

export function createDeploymentState(): DeploymentState {
  return {
    usage: [],
    breaker: createBreakerState(),
    pacing: createPacingState(),
    misconfigured: null,
    avoidUntil: 0,
    lastFailureAt: 0,
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
  upgradeDeploymentState(found)
  return found
}

/**
 * The sliding window a deployment's requests count in: its own, or its quota group's (shared by every member, so
 * the group as a whole keeps to the one quota).
 */
export function usageOf(state: PoolState, deployment: DeploymentConfig): UsageBucket[] {
  if (deployment.quotaGroup === undefined) return deploymentState(state, deployment.id).usage
  const groups = (state.quotaGroups ??= {})
  return Object.hasOwn(groups, deployment.quotaGroup) ? groups[deployment.quotaGroup] : (groups[deployment.quotaGroup] = [])
}

/**
 * State persisted by an earlier version, in place: usage buckets without exact times, and the throttle cooldowns and
 * learned limits that pacing replaced (dropped: the pacing state starts afresh).
 */
function upgradeDeploymentState(ds: DeploymentState): void {
  upgradeUsage(ds.usage)
  upgradeBreaker(ds.breaker)
  if (ds.pacing === undefined) {
    const legacy = ds as unknown as Record<string, unknown>
    delete legacy.cooldown
    delete legacy.consecutiveThrottles
    delete legacy.learned
    ds.pacing = createPacingState()
    ds.misconfigured = null
    ds.avoidUntil = 0
    ds.lastFailureAt = 0
  }
}

/** Drops state of deployments no longer in the config. */
export function prunePoolState(pool: PoolConfig, state: PoolState): void {
  const known = new Set(pool.deployments.map((d) => d.id))
  for (const id of Object.keys(state.deployments)) if (!known.has(id)) delete state.deployments[id]
  // Quota-group windows are not pruned here: other pools may share them (an unused one empties as it slides).
}
