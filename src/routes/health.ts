/**
 * GET /health: is the router configured and able to route? Anyone gets the status (for load balancers);
 * a caller with a router key also gets the problems, pools and live state. Never credentials.
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'
import { authenticate } from './auth'
import { resolveCredentials } from '../upstream/credentials'
import { checkEnvironment } from '../config/problems'

export const healthRoutes = new Hono<AppEnv>()

healthRoutes.get('/health', async (c) => {
  const env = c.env ?? {}
  const detailed = Boolean(env.ROUTER_DEMO) || !('status' in (await authenticate(c.req.header('authorization'), undefined, env)))
  const { problems, loaded } = checkEnvironment(env)
  const pools: Record<string, unknown> = {}
  const store = c.get('store')
  for (const pool of Object.values(loaded?.config.pools ?? {})) {
    pools[pool.name] = {
      strategy: pool.strategy,
      deployments: pool.deployments.map((d) => ({
        id: d.id,
        modelId: d.modelId,
        region: d.region,
        fallback: d.fallback || undefined,
        credentials: resolveCredentials(env, d.credentials) ? 'configured' : 'missing',
      })),
      state: detailed ? await store.snapshot(pool) : undefined,
    }
  }
  const status = problems.length ? 'unhealthy' : 'ok'
  if (!detailed) return c.json({ status }, problems.length ? 503 : 200)
  return c.json({ status, demo: Boolean(env.ROUTER_DEMO) || undefined, problems: problems.length ? problems : undefined, pools }, problems.length ? 503 : 200)
})
