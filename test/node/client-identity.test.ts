/**
 * Scoped keys and tokens through the worker, with the real clients: pools and front doors enforced in each front
 * door's error shape, a server minting a browser token within its own scope, bad tokens refused at every door,
 * and no key, token or secret in any answer.
 */
import Anthropic from '@anthropic-ai/sdk'
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { createHash } from 'node:crypto'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './harness'
import { JWT_SECRET } from '../support/secrets'

const SONNET = 'us.anthropic.claude-sonnet-4-6'
const HAIKU = 'us.anthropic.claude-haiku-4-5-20251001-v1:0'
const SECRET = JWT_SECRET
const KEYS = { teamA: 'ber_team_a_key_0001', teamB: 'ber_team_b_key_0002', viewer: 'ber_viewer_key_0003', limited: 'ber_limited_key_0004', tokens: 'ber_tokens_key_0005' }
const sha = (k: string) => createHash('sha256').update(k).digest('hex')
let h: Harness

beforeAll(async () => {
  h = await startHarness(
    (e) => ({
      clients: {
        keys: [
          { name: 'team-a', sha256: sha(KEYS.teamA), pools: ['sonnet'], mint: true, team: 'a' },
          { name: 'team-b', sha256: sha(KEYS.teamB), pools: ['haiku'], frontDoors: ['openai'] },
          { name: 'viewer', sha256: sha(KEYS.viewer) },
          { name: 'limited', sha256: sha(KEYS.limited), rpm: 2 },
          { name: 'tokens', sha256: sha(KEYS.tokens), tpm: 300 },
        ],
        tokens: { maxTtlSeconds: 600 },
      },
      pools: {
        sonnet: { deployments: [{ id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] }] },
        haiku: { deployments: [{ id: 'haiku-usw2', modelId: HAIKU, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      },
    }),
    { ROUTER_JWT_SECRET: SECRET },
  )
})
afterAll(() => h?.close())

const aws = (token: string) =>
  new BedrockRuntimeClient({ region: 'us-east-1', endpoint: h.router.url, token: { token }, authSchemePreference: ['httpBearerAuth'], requestHandler: new NodeHttpHandler(), maxAttempts: 1 })
const converse = (token: string, modelId: string) => aws(token).send(new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }))
const openai = (apiKey: string) => new OpenAI({ baseURL: `${h.router.url}/v1`, apiKey, maxRetries: 0 })
const anthropic = (apiKey: string) => new Anthropic({ baseURL: h.router.url, apiKey, maxRetries: 0 })
const chat = (key: string, model: string) => openai(key).chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello' }] })
const mint = (key: string, body: unknown) => fetch(`${h.router.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('scoped keys', () => {
  it('a key for pool sonnet calls sonnet, and gets 403 in Bedrock’s shape for haiku', async () => {
    expect((await converse(KEYS.teamA, 'sonnet')).output?.message?.content?.[0]?.text).toMatch(/^Hello from us-east-1/)
    const err = await converse(KEYS.teamA, HAIKU).catch((e) => e)
    expect(err.name).toBe('AccessDeniedException')
    expect(err.message).toContain('may not use pool haiku')
  })

  it('a key allowed only the OpenAI door: 403 on Bedrock’s, served on OpenAI’s, its pools only', async () => {
    expect((await converse(KEYS.teamB, 'haiku').catch((e) => e)).name).toBe('AccessDeniedException')
    expect((await chat(KEYS.teamB, 'haiku')).choices[0].message.content).toMatch(/^Hello from us-west-2/)
    expect(await chat(KEYS.teamB, 'sonnet').catch((e) => e)).toBeInstanceOf(OpenAI.PermissionDeniedError)
    const ids: string[] = []
    for await (const m of openai(KEYS.teamB).models.list()) ids.push(m.id)
    expect(ids).toEqual(['haiku', HAIKU])
  })
})

describe('minting and tokens', () => {
  it('only a key with mint rights may mint', async () => {
    const res = await mint(KEYS.viewer, {})
    expect(res.status).toBe(403)
    expect(((await res.json()) as any).error.message).toMatch(/may not mint/)
  })

  it('a minted token is within its minter’s scope, lives at most maxTtlSeconds, and works from every client', async () => {
    const res = await mint(KEYS.teamA, { subject: 'browser-user-7', pools: ['sonnet', 'haiku'], ttlSeconds: 86_400 })
    expect(res.status).toBe(200)
    const minted = (await res.json()) as any
    expect(minted.scope).toEqual({ pools: ['sonnet'] }) // haiku dropped: the key holds only sonnet
    expect(minted.expiresAt - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(600)
    expect((await converse(minted.token, SONNET)).output?.message?.content?.[0]?.text).toMatch(/^Hello/)
    expect((await chat(minted.token, 'sonnet')).choices[0].message.content).toMatch(/^Hello/)
    const msg = await anthropic(minted.token).messages.create({ model: 'sonnet', max_tokens: 50, messages: [{ role: 'user', content: 'Hello' }] })
    expect(msg.content[0].type === 'text' && msg.content[0].text).toMatch(/^Hello/)
    expect((await converse(minted.token, 'haiku').catch((e) => e)).name).toBe('AccessDeniedException')
    // Nothing the key cannot grant, and a token cannot mint.
    expect((await mint(KEYS.teamA, { pools: ['haiku'] })).status).toBe(403)
    expect((await mint(minted.token, {})).status).toBe(403)
  })

  it('bad tokens are refused at every door in its own shape, and nothing is echoed', async () => {
    const res = await mint(KEYS.teamA, { ttlSeconds: 60 })
    const { token } = (await res.json()) as any
    const [head, body] = token.split('.')
    const forged = `${head}.${Buffer.from(JSON.stringify({ sub: 'admin', exp: 4_000_000_000, router: {} })).toString('base64url')}.${token.split('.')[2]}`
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${body}.`
    for (const bad of [forged, none, 'eyJhbGciOiJIUzI1NiJ9.e30.AAAA']) {
      const bedrock = await converse(bad, 'sonnet').catch((e) => e)
      expect(bedrock.name).toBe('UnrecognizedClientException')
      expect(await chat(bad, 'sonnet').catch((e) => e)).toBeInstanceOf(OpenAI.AuthenticationError)
      const err = await anthropic(bad).messages.create({ model: 'sonnet', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError)
      for (const text of [bedrock.message, String(err.message)]) {
        expect(text).not.toContain(bad)
        expect(text).not.toContain(SECRET)
      }
    }
    const sent = (await h.control('/__sim/requests')).requests as any[]
    expect(JSON.stringify(sent)).not.toContain(SECRET)
  })
})

describe('per-client limits, global through the shared state', () => {
  it('rpm: the third request in a minute is refused with 429, Retry-After and the reason, and nothing goes upstream', async () => {
    const before = (await h.control('/__sim/requests')).requests.length
    expect((await chat(KEYS.limited, 'sonnet')).choices[0].message.content).toMatch(/^Hello/)
    expect((await chat(KEYS.limited, 'haiku')).choices[0].message.content).toMatch(/^Hello/) // across pools: one window per client
    const err = await chat(KEYS.limited, 'sonnet').catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect(err.message).toMatch(/Too many requests for key limited: its own rpm 2 window full/)
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0)
    const bedrock = await converse(KEYS.limited, 'sonnet').catch((e) => e)
    expect(bedrock.name).toBe('ThrottlingException')
    expect((await h.control('/__sim/requests')).requests.length).toBe(before + 2)
    // Other clients are not affected.
    expect((await chat(KEYS.viewer, 'sonnet')).choices[0].message.content).toMatch(/^Hello/)
  })

  it('tpm: settled from real usage, so the window admits what it really has room for', async () => {
    // Each request reserves input + max_tokens (100) and settles to its real, smaller usage.
    const ask = () => openai(KEYS.tokens).chat.completions.create({ model: 'sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] })
    const served: number[] = []
    for (let i = 0; i < 12; i++) {
      const r = await ask().catch((e) => e)
      if (r instanceof OpenAI.RateLimitError) break
      served.push(r.usage.total_tokens)
      await new Promise((resolve) => setTimeout(resolve, 150)) // let the settlement reach the window
    }
    const used = served.reduce((a, b) => a + b, 0)
    expect(served.length).toBeGreaterThan(3) // more than 300 / (input + 100) reservations would allow unsettled
    expect(used).toBeLessThanOrEqual(300)
  })
})

