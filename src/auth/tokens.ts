/**
 * Tokens (JWTs) for browsers, apps and servers. Signatures and algorithms are checked by hono's JWT utilities
 * (WebCrypto); the router adds what a gateway needs on top: only the configured algorithms (so never `none`, and
 * never an asymmetric key used as an HMAC secret), `exp` required, `exp`/`nbf`/`iat` with a small clock skew,
 * optional issuer and audience, keys from a cached JWKS, and the `router` claim that scopes the token like a key:
 *
 *   { "sub": "user-42", "exp": …, "router": { "pools": ["sonnet"], "frontDoors": ["openai"], "rpm": 20, "team": "web" } }
 *
 * Minted tokens (POST /v1/tokens) are HS256 with ROUTER_JWT_SECRET.
 */
import { decode, decodeHeader, sign, verify, verifyWithJwks } from 'hono/utils/jwt/jwt'
import type { ClientScope, TokenConfig } from '../config/types'
import { parseScope, type ClientIdentity } from './identity'
import { jwksKeys } from './jwks'

export type TokenCheck = { ok: true; identity: ClientIdentity } | { ok: false; message: string }

/** Three base64url parts: a token, not a key. */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/.test(credential)
}

export async function verifyToken(token: string, config: TokenConfig, secret: string | undefined, now = Date.now(), fetcher: typeof fetch = fetch): Promise<TokenCheck> {
  let header: { alg?: unknown; kid?: unknown }
  try {
    header = decodeHeader(token) as typeof header
  } catch {
    return { ok: false, message: 'The token is malformed.' }
  }
  const alg = String(header.alg)
  if (!(config.algorithms as string[]).includes(alg)) {
    return { ok: false, message: `Tokens signed with ${JSON.stringify(alg)} are not accepted (accepted: ${config.algorithms.join(', ')}).` }
  }
  // Times are checked below with the configured skew; issuer and audience by the library.
  const verification = { exp: false, nbf: false, iat: false, ...(config.issuer ? { iss: config.issuer } : {}), ...(config.audience ? { aud: config.audience } : {}) }
  let payload: Record<string, unknown>
  try {
    if (alg === 'HS256') {
      if (!secret) return { ok: false, message: 'HS256 tokens are not accepted: the router has no ROUTER_JWT_SECRET.' }
      payload = (await verify(token, secret, { alg: 'HS256', ...verification })) as Record<string, unknown>
    } else {
      const kid = typeof header.kid === 'string' ? header.kid : undefined
      if (!kid) return { ok: false, message: 'The token names no key (kid).' }
      const keys = [...(config.keys ?? []), ...(config.jwksUrl ? await jwksKeys(config.jwksUrl, kid, now, fetcher) : [])]
      if (!keys.some((k) => k.kid === kid)) return { ok: false, message: `The token's key ${JSON.stringify(kid)} is not one of the identity provider's keys.` }
      payload = (await verifyWithJwks(token, { keys: keys as never, allowedAlgorithms: [alg as 'ES256' | 'RS256'], verification })) as Record<string, unknown>
    }
  } catch (e) {
    return { ok: false, message: reason(e) }
  }
  const seconds = Math.floor(now / 1000)
  const skew = config.clockSkewSeconds
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) return { ok: false, message: 'The token has no expiry (exp is required).' }
  if (payload.exp + skew <= seconds) return { ok: false, message: 'The token has expired.' }
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf - skew > seconds)) return { ok: false, message: 'The token is not valid yet (nbf).' }
  if (payload.iat !== undefined && (typeof payload.iat !== 'number' || payload.iat - skew > seconds)) return { ok: false, message: 'The token was issued in the future (iat).' }
  const scoped = scopeOf(payload.router)
  if (!scoped.ok) return scoped
  const sub = typeof payload.sub === 'string' && payload.sub ? payload.sub.slice(0, 128) : 'token'
  return { ok: true, identity: { name: sub, kind: 'token', team: scoped.team, scope: scoped.scope, expiresAt: payload.exp } }
}

function scopeOf(claim: unknown): { ok: true; scope: ClientScope; team?: string } | { ok: false; message: string } {
  if (claim === undefined) return { ok: true, scope: {} }
  if (!claim || typeof claim !== 'object' || Array.isArray(claim)) return { ok: false, message: 'The token\'s router claim must be an object.' }
  const c = claim as Record<string, unknown>
  const parsed = parseScope(c, "The token's router.")
  if (!parsed.ok) return parsed
  return { ok: true, scope: parsed.scope, team: typeof c.team === 'string' ? c.team.slice(0, 64) : undefined }
}

/** The library's errors, as sentences for the client (never echoing the token). */
function reason(e: unknown): string {
  const name = e instanceof Error ? e.name || e.constructor.name : ''
  const byName: Record<string, string> = {
    JwtTokenSignatureMismatched: 'The token\'s signature does not match.',
    JwtTokenInvalid: 'The token is malformed.',
    JwtHeaderInvalid: 'The token\'s header is not a JWT header.',
    JwtAlgorithmMismatch: 'The token\'s algorithm does not match its key.',
    JwtTokenIssuer: 'The token was issued by another issuer.',
    JwtTokenAudience: 'The token is for another audience.',
    JwtPayloadRequiresAud: 'The token names no audience (aud is required).',
    JwtAlgorithmNotAllowed: 'The token\'s algorithm is not accepted.',
    JwtSymmetricAlgorithmNotAllowed: 'The token\'s algorithm is not accepted.',
    JwtHeaderRequiresKid: 'The token names no key (kid).',
  }
  const ctor = e instanceof Error ? e.constructor.name : ''
  return byName[ctor] ?? byName[name] ?? 'The token could not be verified.'
}

export interface MintRequest {
  subject: string
  team?: string
  scope: ClientScope
  ttlSeconds: number
}

/** A short-lived HS256 token with ROUTER_JWT_SECRET. */
export async function mintToken(request: MintRequest, config: TokenConfig, secret: string, now = Date.now()): Promise<{ token: string; expiresAt: number }> {
  const iat = Math.floor(now / 1000)
  const exp = iat + Math.max(1, Math.min(request.ttlSeconds, config.maxTtlSeconds))
  const payload: Record<string, unknown> = { sub: request.subject, iat, exp, router: { ...request.scope, ...(request.team ? { team: request.team } : {}) } }
  if (config.issuer) payload.iss = config.issuer
  if (config.audience) payload.aud = config.audience
  return { token: await sign(payload as never, secret, 'HS256'), expiresAt: exp }
}

/** For tests and tools: the claims of a token, unverified. */
export const decodeToken = (token: string) => decode(token)
