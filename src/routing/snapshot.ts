/** `snapshot`: a read-only view of each deployment for /health and stats (never changes the state). */
import type { PoolConfig } from '../config/types'
import { breakerAdmission, phaseAt, probeTimeoutMs, windowCounts } from './breaker'
import { configuredLimits } from './candidates'
import { freshLatency } from './latency'
import { measuredRate, nextTokenAt } from './pacing'
import { createDeploymentState, upgradeDeploymentState } from './state'
import { strategyOf } from './strategies'
import type { DeploymentSnapshot, DeploymentState, PoolState, SoftReason, UnusableReason } from './types'
import { fitsNow, windowTotals } from './window'

/** The deployment's state, upgraded on a copy when it was persisted by an earlier version. */
function readState(state: PoolState, id: string): DeploymentState {
  if (!Object.hasOwn(state.deployments, id)) return createDeploymentState()
  const ds = state.deployments[id]
  if (ds.pacing !== undefined && (ds.usage.length === 0 || typeof ds.usage[0].first === 'number') && typeof ds.breaker.consecutive === 'number') return ds
  const copy = structuredClone(ds)
  upgradeDeploymentState(copy)
  return copy
}

export function snapshot(pool: PoolConfig, state: PoolState, now: number): DeploymentSnapshot[] {
  const timeout = probeTimeoutMs(pool)
  return pool.deployments.map((d) => {
    const ds = readState(state, d.id)
    const phase = phaseAt(ds.breaker, now)
    const probes = phase === 'half-open' && ds.breaker.phase === 'half-open' ? ds.breaker.probes.filter((at) => at + timeout > now) : []
    const limits = configuredLimits(d)
    const totals = windowTotals(ds.usage, now)
    const counts = windowCounts(ds.breaker, pool.breaker, now)
    const bad = ds.misconfigured
    const probing = bad && bad.probing !== null && bad.probing + timeout > now

    let reason: UnusableReason | null = null
    if (bad && (probing || now < bad.probeAt)) reason = 'misconfigured'
    else if (strategyOf(pool.strategy).usesWindows && !fitsNow(ds.usage, totals, now, 1, 0, limits)) reason = 'window-full'

    const soft: SoftReason[] = []
    const admission = breakerAdmission({ ...ds.breaker, probes }, pool.breaker, now, timeout)
    if (!admission.admit) soft.push(admission.probe ? 'half-open-probes-busy' : 'ejected')
    const tokenAt = nextTokenAt(ds.pacing, now)
    if (tokenAt > now) soft.push('paced')
    if (ds.avoidUntil > now) soft.push('retry-after')

    return {
      id: d.id,
      modelId: d.modelId,
      region: d.region,
      fallback: d.fallback,
      usable: reason === null,
      reason,
      preferred: reason === null && soft.length === 0,
      softReasons: soft,
      breaker: phase,
      breakerOpenUntil: phase === 'open' ? ds.breaker.openUntil : null,
      probesInFlight: probes.length,
      consecutiveFailures: ds.breaker.consecutive,
      ejections: ds.breaker.ejections,
      recentSuccesses: counts.successes,
      recentFailures: counts.failures,
      window: totals,
      limits: { configuredRpm: d.rpm ?? null, configuredTpm: d.tpm ?? null },
      pacing: {
        rateRps: ds.pacing.rate,
        sentRps: Math.round(measuredRate(ds.pacing, now) * 1000) / 1000,
        nextTokenAt: tokenAt > now ? tokenAt : null,
      },
      misconfigured: bad ? { errorType: bad.errorType, since: bad.since, nextProbeAt: bad.probeAt, strikes: bad.strikes } : null,
      avoidUntil: ds.avoidUntil > now ? ds.avoidUntil : null,
      latencyMs: {
        converse: freshLatency(ds.latency.converse, now, pool.latencyTtlMs),
        stream: freshLatency(ds.latency.stream, now, pool.latencyTtlMs),
      },
    }
  })
}
