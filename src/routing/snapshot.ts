/** `snapshot`: a read-only view of each deployment for /health and stats (never changes the state). */
import type { PoolConfig } from '../config/types'
import { breakerAdmission, phaseAt, windowCounts } from './breaker'
import { probeTimeoutMs, usesWindows } from './candidates'
import { effectiveLimits } from './limits'
import { freshLatency } from './latency'
import { createDeploymentState } from './state'
import type { DeploymentSnapshot, PoolState, UnusableReason } from './types'
import { fitsNow, upgradedUsage, windowTotals } from './window'

function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null
}

export function snapshot(pool: PoolConfig, state: PoolState, now: number): DeploymentSnapshot[] {
  const timeout = probeTimeoutMs(pool)
  return pool.deployments.map((d) => {
    const ds = Object.hasOwn(state.deployments, d.id) ? state.deployments[d.id] : createDeploymentState()
    const phase = phaseAt(ds.breaker, now)
    const probes = phase === 'half-open' && ds.breaker.phase === 'half-open' ? ds.breaker.probes.filter((at) => at + timeout > now) : []
    const limits = effectiveLimits(d, ds, now)
    const usage = upgradedUsage(ds.usage)
    const totals = windowTotals(usage, now)
    const counts = windowCounts(ds.breaker, pool.breaker, now)
    const cooling = ds.cooldown && ds.cooldown.until > now ? ds.cooldown : null

    let reason: UnusableReason | null = null
    const admission = breakerAdmission({ ...ds.breaker, probes }, pool.breaker, now, timeout)
    if (!admission.admit) reason = admission.probe ? 'half-open-probes-busy' : 'breaker-open'
    else if (cooling) reason = cooling.reason === 'misconfigured' ? 'misconfigured' : 'throttled'
    else if (usesWindows(pool.strategy) && !fitsNow(usage, totals, now, 1, 0, limits)) reason = 'window-full'

    return {
      id: d.id,
      modelId: d.modelId,
      region: d.region,
      fallback: d.fallback,
      usable: reason === null,
      reason,
      breaker: phase,
      breakerOpenUntil: phase === 'open' ? ds.breaker.openUntil : null,
      probesInFlight: probes.length,
      recentSuccesses: counts.successes,
      recentFailures: counts.failures,
      window: totals,
      limits: {
        configuredRpm: d.rpm ?? null,
        configuredTpm: d.tpm ?? null,
        effectiveRpm: finiteOrNull(limits.rpm),
        effectiveTpm: finiteOrNull(limits.tpm),
        learned: limits.rpm < (d.rpm ?? Number.POSITIVE_INFINITY) || limits.tpm < (d.tpm ?? Number.POSITIVE_INFINITY),
      },
      latencyMs: {
        converse: freshLatency(ds.latency.converse, now, pool.latencyTtlMs),
        stream: freshLatency(ds.latency.stream, now, pool.latencyTtlMs),
      },
      cooldownUntil: cooling?.until ?? null,
      cooldownReason: cooling?.reason ?? null,
    }
  })
}
