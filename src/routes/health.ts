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
