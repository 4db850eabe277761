/**
 * Client authentication for the front doors. The credential comes as `Authorization: Bearer <…>` (or, for the
 * Anthropic API, `x-api-key`) and is one of: a token (JWT, src/auth/tokens.ts), a scoped key declared in the config
 * by its SHA-256 (src/auth/scoped-keys.ts), or a shared key from ROUTER_API_KEYS (no scope). The identity it proves
 * is kept on the request (`identity`, and its name as `client`); a front door the identity may not use is refused
 * here, a pool it may not use where the pool is resolved. Each front door mounts this with its own error
 * rendering, so a refused client reads the error in the protocol it speaks.
 */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'
import { apiKeyVerifier, keyDigest, recentDigest, rememberDigest } from '../auth/api-keys'
import { allowsFrontDoor, describeScope, type ClientIdentity } from '../auth/identity'
import { findScopedKey } from '../auth/scoped-keys'
import { looksLikeJwt, verifyToken } from '../auth/tokens'
import { validConfig } from '../config/load'
import type { ClientsConfig, FrontDoor } from '../config/types'

export interface AuthFailure {
  /** 401: no, a wrong or an invalid credential; 403: valid but not for this front door; 503: no client authentication configured. */
  status: 401 | 403 | 503
  message: string
}

export interface AuthOptions {
  /** Also accept the credential as this header's value (the Anthropic API's `x-api-key`) when no Authorization is sent. */
  apiKeyHeader?: string
  /** The front door being entered, checked against the identity's scope. */
  frontDoor?: FrontDoor
}

const NO_CLIENTS: ClientsConfig = { keys: [], teams: {}, tokens: { algorithms: ['HS256'], clockSkewSeconds: 30, maxTtlSeconds: 3600 } }

export const clientAuth = (renderError: (failure: AuthFailure) => Response, options: AuthOptions = {}) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const env = c.env ?? {}
    const outcome = await authenticate(c.req.header('authorization'), options.apiKeyHeader ? c.req.header(options.apiKeyHeader) : undefined, env)
    if ('status' in outcome) return renderError(outcome)
    if (options.frontDoor && !allowsFrontDoor(outcome, options.frontDoor)) {
      return renderError({ status: 403, message: `This ${outcome.kind === 'token' ? 'token' : 'key'} may not use the ${options.frontDoor} API (allowed: ${describeScope(outcome.scope)}).` })
    }
    c.set('identity', outcome)
    c.set('client', outcome.name)
    await next()
  })

/** The credential in an `Authorization: Bearer <…>` header, if that is what it holds. */
export function bearerOf(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1]
}

/** The identity a request's credential proves, or why there is none. */
export async function authenticate(authorization: string | undefined, apiKeyHeader: string | undefined, env: AppEnv['Bindings']): Promise<ClientIdentity | AuthFailure> {
  const clients = clientsOf(env.ROUTER_CONFIG)
  const shared = apiKeyVerifier(env.ROUTER_API_KEYS)
  const secret = typeof env.ROUTER_JWT_SECRET === 'string' && env.ROUTER_JWT_SECRET ? env.ROUTER_JWT_SECRET : undefined
  const tokensAccepted = Boolean(secret || clients.tokens.jwksUrl || clients.tokens.keys?.length)
  if (shared.count === 0 && clients.keys.length === 0 && !tokensAccepted) {
    if (!env.ROUTER_DEMO) return { status: 503, message: 'The router has no client authentication configured: set ROUTER_API_KEYS (or clients.keys, or tokens).' }
    return { name: 'demo', kind: 'demo', scope: {} }
  }
  const bearer = bearerOf(authorization) ?? (authorization === undefined ? apiKeyHeader?.trim() : undefined)
  if (!bearer) return { status: 401, message: 'No credential: send Authorization: Bearer <router key or token>.' }
  if (looksLikeJwt(bearer)) {
    if (!tokensAccepted) return { status: 401, message: 'Tokens are not accepted by this router: send a router key.' }
    const checked = await verifyToken(bearer, clients.tokens, secret)
    return checked.ok ? withTeam(checked.identity, clients) : { status: 401, message: checked.message }
  }
  // One digest of the presented key, compared with the scoped keys' and the shared keys'.
  const digest = recentDigest(bearer) ?? (await keyDigest(bearer))
  const key = findScopedKey(clients.keys, digest)
  if (key) {
    rememberDigest(bearer, digest)
    const { name, team, mint, admin, sha256: _digest, ...scope } = key
    return withTeam({ name, kind: 'key', team, mint, admin, scope }, clients)
  }
  if (shared.count > 0 && (await shared.matches(digest))) {
    rememberDigest(bearer, digest)
    return { name: 'api-key', kind: 'shared-key', scope: {} }
  }
  return { status: 401, message: 'The security token included in the request is invalid: send Authorization: Bearer <router key or token>.' }
}

/** The limits of the identity's team, when the config gives that team any. */
function withTeam(identity: ClientIdentity, clients: ClientsConfig): ClientIdentity {
  const limits = identity.team !== undefined && Object.hasOwn(clients.teams, identity.team) ? clients.teams[identity.team] : undefined
  return limits ? { ...identity, teamLimits: limits } : identity
}

/** The clients section of a valid config; none when the config is invalid (the routes report that). */
const clientsOf = (source: unknown): ClientsConfig => validConfig(source)?.config.clients ?? NO_CLIENTS
