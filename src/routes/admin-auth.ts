/**
 * Who may read the admin endpoints (/stats, /health/deployments, /metrics): the bearer of ROUTER_ADMIN_KEY, or a
 * client key the config marks `"admin": true`; in demo mode, anyone (the demo has no secrets). Errors are JSON, the
 * shape of every admin answer.
 */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'
import { equalDigests, keyDigest } from '../auth/api-keys'
import { validConfig } from '../config/load'
import { authenticate, bearerOf } from './auth'

export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const env = c.env ?? {}
  if (env.ROUTER_DEMO) return next()
  const adminKey = typeof env.ROUTER_ADMIN_KEY === 'string' && env.ROUTER_ADMIN_KEY ? env.ROUTER_ADMIN_KEY : undefined
  const adminKeys = validConfig(env.ROUTER_CONFIG)?.config.clients.keys.some((k) => k.admin) ?? false
  if (!adminKey && !adminKeys) return adminError(503, 'No admin access is configured: set ROUTER_ADMIN_KEY (or give a client key "admin": true).')
  const authorization = c.req.header('authorization')
  const bearer = bearerOf(authorization)
  if (!bearer) return adminError(401, 'No credential: send Authorization: Bearer <admin key>.')
  if (adminKey && equalDigests(await keyDigest(bearer), await keyDigest(adminKey))) return next()
  const who = adminKeys ? await authenticate(authorization, undefined, env) : undefined
  if (who && !('status' in who) && who.admin) return next()
  if (who && !('status' in who)) return adminError(403, `The ${who.kind === 'token' ? 'token' : 'key'} ${who.name} may not read admin endpoints.`)
  return adminError(401, 'The admin key is not valid.')
})

export function adminError(status: 400 | 401 | 403 | 503, message: string): Response {
  return Response.json({ error: { status, message } }, { status, headers: { 'cache-control': 'no-store' } })
}
