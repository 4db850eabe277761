/**
 * No credential ever reaches a response or a log line: a scoped key, a token, the JWT secret and the AWS keys,
 * across the front doors, on success and on refusal (the worker runs in workerd against the simulator).
 */
import { sign } from 'hono/utils/jwt/jwt'
import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { createApp } from '../app'
import { sha256Hex } from '../auth/scoped-keys'
import { MemoryStateStore } from '../state/memory'

const sim = inject('simulator')
const KEY = 'ber_no_secrets_key_0001'
const SECRET = 'no-secrets-jwt-secret-0123456789abcdef012345'
const app = createApp({ stateStore: (() => { const s = new MemoryStateStore(); return () => s })() })

afterEach(() => vi.restoreAllMocks())

describe('no secret in any answer or log line', () => {
  it('keys, tokens, the JWT secret and AWS credentials stay out of responses and logs', async () => {
    const lines: string[] = []
    for (const level of ['log', 'error', 'warn', 'info'] as const) vi.spyOn(console, level).mockImplementation((...args) => void lines.push(args.map(String).join(' ')))
    const env = {
      ROUTER_CONFIG: JSON.stringify({
        clients: { keys: [{ name: 'app', sha256: await sha256Hex(KEY), pools: ['p'], mint: true }] },
        pools: { p: { deployments: [{ id: 'a', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] }] } },
      }),
      ROUTER_JWT_SECRET: SECRET,
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
    }
    const token = await sign({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, 'HS256')
    const expired = await sign({ sub: 'u', exp: 1 }, SECRET, 'HS256')
    const forged = await sign({ sub: 'u', exp: Math.floor(Date.now() / 1000) + 60 }, 'a-different-secret-0123456789abcdef0000', 'HS256')
    const bodies: string[] = []
    const call = async (path: string, credential: string, body: unknown) => {
      const res = await app.request(path, { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }, env)
      const headers: string[] = []
      res.headers.forEach((value, name) => headers.push(`${name}: ${value}`))
      bodies.push(`${res.status} ${headers.join('; ')} ${await res.text()}`)
    }
    const converse = { messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }
    const chat = { model: 'p', messages: [{ role: 'user', content: 'Hello' }] }
    const messages = { model: 'p', max_tokens: 20, messages: [{ role: 'user', content: 'Hello' }] }
    for (const credential of [KEY, token, expired, forged, `${KEY}x`]) {
      await call('/model/p/converse', credential, converse)
      await call('/v1/chat/completions', credential, chat)
      await call('/v1/messages', credential, messages)
      await call('/model/other/converse', credential, converse)
    }
    await call('/v1/tokens', KEY, { ttlSeconds: 60 })
    expect(bodies.filter((b) => b.startsWith('200')).length).toBeGreaterThanOrEqual(7) // the key and the token were served
    const minted = JSON.parse(bodies.at(-1)!.slice(bodies.at(-1)!.indexOf('{"token"'))).token as string
    const everything = [...bodies.slice(0, -1), ...lines].join('\n')
    for (const secret of [KEY, token, expired, forged, SECRET, DEMO_SECRET_ACCESS_KEY, DEMO_ACCESS_KEY_ID, minted]) expect(everything).not.toContain(secret)
    expect(lines.some((l) => l.includes('"msg":"request"'))).toBe(true) // the log lines were captured
  })
})
