/**
 * Client authentication for the front doors: `Authorization: Bearer <key>` against ROUTER_API_KEYS. Each front
 * door mounts it with its own error rendering, so a refused client reads the error in the protocol it speaks.
 */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'
import { apiKeyVerifier } from '../auth/api-keys'

export interface AuthFailure {
  /** 401: no or a wrong key; 503: the router has no client authentication configured. */
  status: 401 | 503
  message: string
}

export interface AuthOptions {
  /** Also accept the key as this header's value (the Anthropic API's `x-api-key`) when no Authorization is sent. */
  apiKeyHeader?: string
}

export const clientAuth = (renderError: (failure: AuthFailure) => Response, options: AuthOptions = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const verifier = apiKeyVerifier(c.env?.ROUTER_API_KEYS)
    if (verifier.count === 0) {
      if (!c.env?.ROUTER_DEMO) {
        return renderError({ status: 503, message: 'The router has no client authentication configured: set ROUTER_API_KEYS.' })
      }
      c.set('client', 'demo')
      return next()
    }
    const key = options.apiKeyHeader && !c.req.header('authorization') ? c.req.header(options.apiKeyHeader) : undefined
    const authorization = key !== undefined ? `Bearer ${key.trim()}` : c.req.header('authorization')
    if (!(await verifier.verify(authorization))) {
      return renderError({ status: 401, message: 'The security token included in the request is invalid: send Authorization: Bearer <router API key>.' })
    }
    c.set('client', 'api-key')
    await next()
  })
