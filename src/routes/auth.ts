/** Client authentication for the Bedrock routes: `Authorization: Bearer <key>` against ROUTER_API_KEYS. */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'
import { apiKeyVerifier } from '../auth/api-keys'
import { bedrockError, unauthorizedError } from '../bedrock/errors'

export const clientAuth = createMiddleware<AppEnv>(async (c, next) => {
  const verifier = apiKeyVerifier(c.env?.ROUTER_API_KEYS)
  if (verifier.count === 0) {
    if (!c.env?.ROUTER_DEMO) {
      return bedrockError(503, 'ServiceUnavailableException', 'The router has no client authentication configured: set ROUTER_API_KEYS.')
    }
    c.set('client', 'demo')
    return next()
  }
  if (!(await verifier.verify(c.req.header('authorization')))) {
    return unauthorizedError('The security token included in the request is invalid: send Authorization: Bearer <router API key>.')
  }
  c.set('client', 'api-key')
  await next()
})
