/** The bad-token matrix, and good tokens of every accepted kind, against the real verifier (WebCrypto in workerd). */
import { sign } from 'hono/utils/jwt/jwt'
import { beforeEach, describe, expect, it } from 'vitest'
import type { TokenConfig } from '../config/types'
import { clearJwksCache } from './jwks'
import { looksLikeJwt, mintToken, verifyToken } from './tokens'

const SECRET = 'test-secret-0123456789abcdef0123456789abcdef'
const NOW = Date.parse('2026-12-01T12:00:00Z')
const t = Math.floor(NOW / 1000)
const HS: TokenConfig = { algorithms: ['HS256'], clockSkewSeconds: 30, maxTtlSeconds: 3600 }

const b64url = (s: string) => btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
const unsigned = (header: object, payload: object) => `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.`

async function es256() {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const pub = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as Record<string, unknown>
  const priv = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as Record<string, unknown>
  return { pub: { ...pub, kid: 'k1', alg: 'ES256' }, priv: { ...priv, kid: 'k1', alg: 'ES256' } }
}

const NO_SECRET = Symbol('no secret')
const bad = async (token: string, config = HS, secret: string | typeof NO_SECRET = SECRET) => {
  const r = await verifyToken(token, config, secret === NO_SECRET ? undefined : secret, NOW)
  if (r.ok) throw new Error('expected a refusal')
  expect(r.message).not.toContain(token) // never echo the token
  return r.message
}

beforeEach(() => clearJwksCache())

describe('tokens: the bad-token matrix', () => {
  it('alg none, an algorithm not configured, a malformed token', async () => {
    expect(await bad(unsigned({ alg: 'none', typ: 'JWT' }, { sub: 'x', exp: t + 60 }))).toMatch(/"none" are not accepted/)
    expect(await bad(await sign({ sub: 'x', exp: t + 60 }, SECRET, 'HS512'))).toMatch(/"HS512" are not accepted/)
    expect(await bad('not.a.jwt')).toMatch(/malformed/)
    expect(await bad('eyJhbGciOiJIUzI1NiJ9.@@@.sig')).toMatch(/malformed/)
  })

  it('a bad signature, a wrong secret', async () => {
    const good = await sign({ sub: 'x', exp: t + 60 }, SECRET, 'HS256')
    expect(await bad(good.slice(0, -3) + (good.endsWith('AAA') ? 'BBB' : 'AAA'))).toMatch(/signature|malformed/)
    expect(await bad(await sign({ sub: 'x', exp: t + 60 }, 'another-secret-of-enough-length-000000', 'HS256'))).toMatch(/signature does not match/)
  })

  it('expired, no exp, not yet valid, issued in the future — with the clock skew honoured', async () => {
    expect(await bad(await sign({ sub: 'x', exp: t - 31 }, SECRET, 'HS256'))).toMatch(/expired/)
    expect((await verifyToken(await sign({ sub: 'x', exp: t - 29 }, SECRET, 'HS256'), HS, SECRET, NOW)).ok).toBe(true) // within skew
    expect(await bad(await sign({ sub: 'x' }, SECRET, 'HS256'))).toMatch(/exp is required/)
    expect(await bad(await sign({ sub: 'x', exp: t + 600, nbf: t + 120 }, SECRET, 'HS256'))).toMatch(/not valid yet/)
    expect(await bad(await sign({ sub: 'x', exp: t + 600, iat: t + 120 }, SECRET, 'HS256'))).toMatch(/issued in the future/)
  })

  it('a wrong audience or issuer', async () => {
    const config = { ...HS, issuer: 'https://idp.example.com', audience: 'router' }
    expect(await bad(await sign({ sub: 'x', exp: t + 60, iss: 'https://evil.example.com', aud: 'router' }, SECRET, 'HS256'), config)).toMatch(/another issuer/)
    expect(await bad(await sign({ sub: 'x', exp: t + 60, iss: 'https://idp.example.com', aud: 'other' }, SECRET, 'HS256'), config)).toMatch(/another audience/)
    expect(await bad(await sign({ sub: 'x', exp: t + 60, iss: 'https://idp.example.com' }, SECRET, 'HS256'), config)).toMatch(/audience/)
  })

  it('HS256 without a secret; an HMAC over the public key (algorithm confusion)', async () => {
    expect(await bad(await sign({ sub: 'x', exp: t + 60 }, SECRET, 'HS256'), HS, NO_SECRET)).toMatch(/no ROUTER_JWT_SECRET/)
    const { pub } = await es256()
    const confused = await sign({ sub: 'x', exp: t + 60 }, JSON.stringify(pub), 'HS256')
    expect(await bad(confused, { ...HS, algorithms: ['ES256'], keys: [pub] })).toMatch(/"HS256" are not accepted/)
  })

  it('a malformed router claim', async () => {
    expect(await bad(await sign({ sub: 'x', exp: t + 60, router: { pools: 'sonnet' } }, SECRET, 'HS256'))).toMatch(/router.pools/)
    expect(await bad(await sign({ sub: 'x', exp: t + 60, router: { frontDoors: ['grpc'] } }, SECRET, 'HS256'))).toMatch(/frontDoors/)
  })
})

describe('tokens: accepted', () => {
  it('HS256 with the router claim: subject, team and scope', async () => {
    const token = await sign({ sub: 'user-42', exp: t + 60, router: { pools: ['sonnet'], frontDoors: ['openai'], rpm: 5, team: 'web' } }, SECRET, 'HS256')
    expect(looksLikeJwt(token)).toBe(true)
    expect(await verifyToken(token, HS, SECRET, NOW)).toEqual({ ok: true, identity: { name: 'user-42', kind: 'token', team: 'web', scope: { pools: ['sonnet'], frontDoors: ['openai'], rpm: 5 }, expiresAt: t + 60 } })
  })

  it('ES256 with an inline key; from a JWKS, fetched once, refetched for an unknown kid', async () => {
    const { pub, priv } = await es256()
    const token = await sign({ sub: 'app-user', exp: t + 60 }, priv as never, 'ES256')
    expect((await verifyToken(token, { ...HS, algorithms: ['ES256'], keys: [pub] }, undefined, NOW)).ok).toBe(true)
    let fetches = 0
    let served = [pub]
    const fetcher = (async () => {
      fetches++
      return new Response(JSON.stringify({ keys: served }), { headers: { 'content-type': 'application/json' } })
    }) as typeof fetch
    const config: TokenConfig = { ...HS, algorithms: ['ES256'], jwksUrl: 'https://idp.example.com/jwks' }
    expect((await verifyToken(token, config, undefined, NOW, fetcher)).ok).toBe(true)
    expect((await verifyToken(token, config, undefined, NOW + 1000, fetcher)).ok).toBe(true)
    expect(fetches).toBe(1) // cached
    // The provider rotates to k2: a token with k2 makes the router fetch again (not more than once per 30 s).
    const rotated = await es256()
    served = [{ ...rotated.pub, kid: 'k2' }]
    const next = await sign({ sub: 'app-user', exp: t + 600 }, { ...rotated.priv, kid: 'k2' } as never, 'ES256')
    expect((await verifyToken(next, config, undefined, NOW + 40_000, fetcher)).ok).toBe(true)
    expect(fetches).toBe(2)
    const unknown = await sign({ sub: 'x', exp: t + 600 }, { ...rotated.priv, kid: 'k9' } as never, 'ES256')
    expect(await bad(unknown, config)).toMatch(/not one of the identity provider's keys/)
  })

  it('minted tokens: capped lifetime, scope and team in the router claim, verifiable', async () => {
    const { token, expiresAt } = await mintToken({ subject: 'user-1', team: 't', scope: { pools: ['a'] }, ttlSeconds: 99_999 }, HS, SECRET, NOW)
    expect(expiresAt).toBe(t + 3600)
    const r = await verifyToken(token, HS, SECRET, NOW)
    expect(r.ok && r.identity).toMatchObject({ name: 'user-1', team: 't', scope: { pools: ['a'] } })
  })
})
