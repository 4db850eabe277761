/**
 * GET /health: is the router configured and able to route — every pool with a deployment that can serve now?
 * Anyone gets the status, 200 or 503 (for load balancers);
 * a caller with a router key also gets the problems, pools and live state. Never credentials.
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'
import { authenticate } from './auth'
import { resolveCredentials } from '../upstream/credentials'
import { checkEnvironment } from '../config/problems'
import type { DeploymentSnapshot } from '../routing/types'
import { aggregate, HOUR_MS } from '../stats/rollup'
import { adminAuth } from './admin-auth'

export const healthRoutes = new Hono<AppEnv>()

healthRoutes.get('/health', async (c) => {
  const env = c.env ?? {}
  const detailed = Boolean(env.ROUTER_DEMO) || !('status' in (await authenticate(c.req.header('authorization'), undefined, env)))
  const { problems, loaded } = checkEnvironment(env)
  const pools: Record<string, unknown> = {}
  const store = c.get('store')
  const configured = Object.values(loaded?.config.pools ?? {})
  const snapshots = await Promise.all(configured.map((pool) => store.snapshot(pool).catch(() => undefined) as Promise<DeploymentSnapshot[] | undefined>))
  configured.forEach((pool, i) => {
    // Healthy while every pool has a deployment that can take a request now (soft penalties do not count: the
    // router still sends to an ejected deployment when nothing better is left).
    const state = snapshots[i]
    if (Array.isArray(state) && !state.some((d) => d.usable)) {
      problems.push(`pool ${pool.name}: no deployment can serve now (${state.map((d) => `${d.id}: ${d.reason}`).join(', ')})`)
    }
  })
  for (const [i, pool] of configured.entries()) {
    pools[pool.name] = {
      strategy: pool.strategy,
      deployments: pool.deployments.map((d) => ({
        id: d.id,
        modelId: d.modelId,
        region: d.region,
        fallback: d.fallback || undefined,
        credentials: resolveCredentials(env, d.credentials) ? 'configured' : 'missing',
      })),
      state: detailed ? snapshots[i] : undefined,
    }
  }
  const status = problems.length ? 'unhealthy' : 'ok'
  if (!detailed) return c.json({ status }, problems.length ? 503 : 200)
  return c.json({ status, demo: Boolean(env.ROUTER_DEMO) || undefined, problems: problems.length ? problems : undefined, pools }, problems.length ? 503 : 200)
})

/**
 * GET /health/deployments (admin): each deployment now — usable or not and why, breaker phase and cooldown, the last
 * minute's successes, failures and window use against its configured rpm/tpm, pacing after throttles — and, from the
 * shared accounting of the last hour, its requests, error rate and latency / time-to-first-token percentiles.
 */
healthRoutes.get('/health/deployments', adminAuth, async (c) => {
  const loaded = checkEnvironment(c.env ?? {}).loaded
  const store = c.get('store')
  const pools = Object.values(loaded?.config.pools ?? {})
  const now = Date.now()
  const [snapshots, stats] = await Promise.all([
    Promise.all(pools.map((pool) => store.snapshot(pool).catch(() => undefined) as Promise<DeploymentSnapshot[] | { source: string; deployments: DeploymentSnapshot[] } | undefined>)),
    store.readStats(now - HOUR_MS, now + 1).catch(() => undefined),
  ])
  const lastHour = stats ? aggregate(stats.rows.filter((r) => r.hour >= now - 2 * HOUR_MS), { from: now - HOUR_MS, to: now + 1, by: ['pool', 'deployment'], bucket: 'total' }) : []
  const deployments = pools.flatMap((pool, i) => {
    const snap = snapshots[i]
    const list = Array.isArray(snap) ? snap : (snap?.deployments ?? [])
    return list.map((d) => {
      const h = lastHour.find((g) => g.keys.pool === pool.name && g.keys.deployment === d.id)
      const minute = d.recentSuccesses + d.recentFailures
      return {
        pool: pool.name,
        ...d,
        breakerCooldownMs: d.breakerOpenUntil ? Math.max(0, d.breakerOpenUntil - now) : null,
        why: d.reason ?? (d.softReasons.length ? d.softReasons.join(', ') : null),
        lastMinute: { requests: d.window.requests, successes: d.recentSuccesses, failures: d.recentFailures, errorRate: minute ? d.recentFailures / minute : null },
        windowUse: {
          rpm: d.limits.configuredRpm ? d.window.requests / d.limits.configuredRpm : null,
          tpm: d.limits.configuredTpm ? d.window.tokens / d.limits.configuredTpm : null,
        },
        lastHour: h
          ? { requests: h.requests, errors: h.errors, upstreamThrottles: h.throttles.upstream, errorRate: h.requests ? h.errors / h.requests : null, latencyMs: h.latencyMs, ttftMs: h.ttftMs, costUsd: h.costUsd }
          : { requests: 0, errors: 0, upstreamThrottles: 0, errorRate: null, latencyMs: null, ttftMs: null, costUsd: 0 },
        source: Array.isArray(snap) ? 'shared' : snap ? 'local' : 'unavailable',
      }
    })
  })
  return c.json({ at: new Date(now).toISOString(), deployments }, 200, { 'cache-control': 'no-store' })
})
