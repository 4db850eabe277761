/**
 * POST /v1/tokens: a server holding a key allowed to mint asks for a short-lived token for a browser or an app.
 * The token's scope is the intersection of what is asked and what the key holds (pools, front doors, rpm, tpm,
 * budgets); its lifetime is capped by `clients.tokens.maxTtlSeconds`. Signed HS256 with ROUTER_JWT_SECRET.
 *
 *   {"subject": "user-42", "ttlSeconds": 600, "pools": ["sonnet"], "frontDoors": ["openai"], "rpm": 10}
 *   → {"token": "eyJ…", "expiresAt": 1767225600, "subject": "user-42", "scope": {…}}
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'
import { narrowScope, parseScope, SCOPE_FIELDS } from '../auth/identity'
import { mintToken } from '../auth/tokens'
import { loadConfig } from '../config/load'
import type { ClientScope } from '../config/types'
import { openAiError } from '../front-doors/openai/errors'
import { readRequestJson } from '../front-doors/request'
import { clientAuth } from './auth'

export const tokenRoutes = new Hono<AppEnv>()

tokenRoutes.use('/v1/tokens', clientAuth((failure) => openAiError(failure.status, failure.message)))
tokenRoutes.post('/v1/tokens', async (c) => {
  const identity = c.get('identity')
  if (identity.kind !== 'key' || !identity.mint) {
    return openAiError(403, 'This credential may not mint tokens: only a key with "mint": true in clients.keys may.', { code: 'permission_denied' })
  }
  const secret = typeof c.env?.ROUTER_JWT_SECRET === 'string' ? c.env.ROUTER_JWT_SECRET : ''
  if (!secret) return openAiError(503, 'The router cannot mint tokens: ROUTER_JWT_SECRET is not set.', { code: 'not_configured' })
  const read = await readRequestJson(c)
  if (!read.ok) return openAiError(read.problem.status, read.problem.message)
  const body = read.value.body
  const asked = askedScope(body)
  if (typeof asked === 'string') return openAiError(400, asked, { code: 'invalid_request' })
  if (body.subject !== undefined && (typeof body.subject !== 'string' || !/^[A-Za-z0-9._:@|-]{1,128}$/.test(body.subject))) {
    return openAiError(400, 'subject must be 1–128 letters, digits or . _ : @ | -', { param: 'subject' })
  }
  const config = loadConfig(c.env?.ROUTER_CONFIG).config.clients.tokens
  const ttl = body.ttlSeconds ?? config.maxTtlSeconds
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1) return openAiError(400, 'ttlSeconds must be a whole number ≥ 1', { param: 'ttlSeconds' })
  const { scope, empty } = narrowScope(identity.scope, asked)
  if (empty) return openAiError(403, `This key may not grant any of the ${empty} asked for.`, { code: 'permission_denied', param: empty })
  const subject = (body.subject as string | undefined) ?? identity.name
  const minted = await mintToken({ subject, team: identity.team, scope, ttlSeconds: ttl }, config, secret)
  return c.json({ token: minted.token, expiresAt: minted.expiresAt, subject, scope })
})

function askedScope(body: Record<string, unknown>): ClientScope | string {
  const known = new Set([...SCOPE_FIELDS, 'subject', 'ttlSeconds'])
  const unknown = Object.keys(body).find((k) => !known.has(k))
  if (unknown) return `Unknown field: ${unknown}`
  const parsed = parseScope(body)
  return parsed.ok ? parsed.scope : parsed.message
}
