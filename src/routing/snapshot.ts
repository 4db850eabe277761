/**
 * `snapshot`: a read-only view of each deployment for /health and stats. It asks `assess` (candidates.ts) — the one
 * place that says why a deployment cannot, or should not, take a request — about a small request, on a copy of the
 * state, because assessing prunes windows and moves expired breakers along.
 */
import type { PoolConfig } from '../config/types'
import { windowCounts } from './breaker'
import { heldUsd } from './budget'
import { assess } from './candidates'
import { freshLatency } from './latency'
import { measuredRate, nextTokenAt } from './pacing'
import type { DeploymentSnapshot, PoolState, RequestEstimate, SoftReason } from './types'
import { windowTotals } from './window'

const SMALL: RequestEstimate = { inputTokens: 0, maxTokens: 0, stream: false }

export function snapshot(pool: PoolConfig, state: PoolState, now: number): DeploymentSnapshot[] {
  const copy = structuredClone(state)
  return pool.deployments.map((d) => {
    const c = assess(pool, d, copy, SMALL, [], now)
    const ds = c.state
    const totals = c.usage === ds.usage ? (c.totals ?? windowTotals(ds.usage, now)) : windowTotals(ds.usage, now)
    const group = c.usage !== ds.usage && d.quotaGroup ? { quotaGroup: { name: d.quotaGroup, window: c.totals ?? windowTotals(c.usage, now) } } : {}
    const counts = windowCounts(ds.breaker, pool.breaker, now)
    const bad = ds.misconfigured
    const soft: SoftReason[] = []
    if (c.ejected) soft.push(ds.breaker.phase === 'half-open' ? 'half-open-probes-busy' : 'ejected')
    const tokenAt = nextTokenAt(ds.pacing, now)
    if (tokenAt > now) soft.push('paced')
    if (ds.avoidUntil > now) soft.push('retry-after')
    const reason = c.block

    return {
      id: d.id,
      modelId: d.modelId,
      region: d.region,
      fallback: d.fallback,
      usable: reason === null,
      reason,
      preferred: reason === null && soft.length === 0,
      softReasons: soft,
      breaker: ds.breaker.phase,
      breakerOpenUntil: ds.breaker.phase === 'open' ? ds.breaker.openUntil : null,
      probesInFlight: ds.breaker.phase === 'half-open' ? ds.breaker.probes.length : 0,
      consecutiveFailures: ds.breaker.consecutive,
      ejections: ds.breaker.ejections,
      recentSuccesses: counts.successes,
      recentFailures: counts.failures,
      window: totals,
      ...group,
      limits: { configuredRpm: d.rpm ?? null, configuredTpm: d.tpm ?? null },
      ...(ds.spend
        ? {
            budget: {
              usdPerDay: d.budgetUsdPerDay ?? null,
              usdPerMonth: d.budgetUsdPerMonth ?? null,
              spentToday: ds.spend.dayUsd,
              spentThisMonth: ds.spend.monthUsd,
              heldUsd: heldUsd(ds.spend),
            },
          }
        : {}),
      ...(c.dayLedger && d.tokensPerDay !== undefined ? { tokensToday: { perDay: d.tokensPerDay, used: c.dayLedger.dayUsd, held: heldUsd(c.dayLedger) } } : {}),
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
