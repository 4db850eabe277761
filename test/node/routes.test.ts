/**
 * The Bedrock routes over plain HTTP: SSE for browsers, model-ID resolution, error shapes, credentials,
 * and that nothing invalid reaches the upstream.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { defaultPrice } from '../../src/routing/models'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-6'
const IPR = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1'
let h: Harness

beforeAll(async () => {
  h = await startHarness(
    (e) => ({
      pools: {
        sonnet: {
          deployments: [
            { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
          ],
        },
        haiku: {
          deployments: [
            // Upstream auth with a Bedrock API key from a named credential set.
            { id: 'haiku-euw1', modelId: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0', region: 'eu-west-1', endpoint: e['eu-west-1'], credentials: 'eu' },
          ],
        },
        router: { strategy: 'bedrock-ipr', deployments: [{ id: 'ipr-use1', modelId: IPR, region: 'us-east-1', endpoint: e['us-east-1'] }] },
        broken: { deployments: [{ id: 'nokeys', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', endpoint: e['us-east-1'], credentials: 'missing' }] },
      },
    }),
    { AWS_BEARER_TOKEN_BEDROCK_EU: DEMO_API_KEY },
  )
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })
const post = (path: string, init: { body?: string; accept?: string; key?: string | null } = {}) =>
  fetch(`${h.router.url}${path}`, {
    method: 'POST',
    body: init.body ?? body,
    headers: {
      'content-type': 'application/json',
      ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? CLIENT_KEY}` }),
      ...(init.accept ? { accept: init.accept } : {}),
    },
  })

async function sse(res: Response) {
  const parser = new SseParser()
  const events = parser.push(await res.text())
  return events
}

async function upstreamRequests(): Promise<unknown[]> {
  return (await h.control('/__sim/requests')).requests
}

describe('SSE', () => {
  it('streams Bedrock events as SSE with the padding kept', async () => {
    const res = await post(`/model/sonnet/converse-stream`, { accept: 'text/event-stream' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    expect(res.headers.get('x-router-deployment')).toBe('sonnet-use1')
    expect(res.headers.get('x-router-region')).toBe('us-east-1')
    const events = await sse(res)
    expect(events.map((e) => e.event)).toEqual(['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata'])
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
    for (const e of events) {
      const p = JSON.parse(e.data).p as string
      expect(p.length).toBeGreaterThan(1)
      expect(alphabet.startsWith(p)).toBe(true)
    }
    expect(JSON.parse(events.at(-1)!.data).usage.outputTokens).toBeGreaterThan(0)
  })

  it('an exception frame mid-stream becomes event: error and ends the stream', async () => {
    await h.control('/__sim/rules', { fault: 'exception', afterFrames: 2, exceptionType: 'modelStreamErrorException', message: 'model broke' })
    const events = await sse(await post(`/model/sonnet/converse-stream`, { accept: 'text/event-stream' }))
    const last = events.at(-1)!
    expect(last.event).toBe('error')
    expect(JSON.parse(last.data)).toMatchObject({ type: 'modelStreamErrorException', message: 'model broke' })
    expect(events.map((e) => e.event)).not.toContain('metadata')
  })

  it('a connection cut mid-frame becomes event: error, never a clean end', async () => {
    await h.control('/__sim/rules', { fault: 'cut', afterFrames: 3, partialBytes: 20 })
    const events = await sse(await post(`/model/sonnet/converse-stream`, { accept: 'text/event-stream' }))
    expect(events.at(-1)!.event).toBe('error')
    expect(JSON.parse(events.at(-1)!.data).message).toMatch(/broke off|truncated|ended|malformed/i)
  })

  it('an exception before any content fails over to the next deployment', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'exception', afterFrames: 0, exceptionType: 'serviceUnavailableException' })
    const res = await post(`/model/sonnet/converse-stream`, { accept: 'text/event-stream' })
    expect(res.headers.get('x-router-deployment')).toBe('sonnet-usw2')
    expect(res.headers.get('x-router-failovers')).toBe('sonnet-use1=unavailable:ServiceUnavailableException')
    const events = await sse(res)
    expect(events.at(-1)!.event).toBe('metadata')
  })
})

describe('binary event stream relay', () => {
  it('relays byte-identical frames whatever the upstream chunking (frames split and packed across chunks)', async () => {
    const { EventStreamFramer } = await import('../../src/wire/eventstream')
    const frames = async () => {
      const res = await post('/model/sonnet/converse-stream')
      const framer = new EventStreamFramer()
      const out = framer.push(new Uint8Array(await res.arrayBuffer()))
      framer.end()
      return out.map((f) => ({ type: f.eventType, payload: new TextDecoder().decode(f.payload).replace(/"p":"[^"]*"/, '"p":""').replace(/"latencyMs":\d+/, '"latencyMs":0') }))
    }
    await h.control('/__sim/config', { responseChars: 2000 })
    const whole = await frames()
    for (const chunkSizes of [[1], [7, 300, 1, 50], [4096]]) {
      await h.control('/__sim/config', { responseChars: 2000, chunkSizes })
      expect(await frames(), JSON.stringify(chunkSizes)).toEqual(whole)
    }
    expect(whole.length).toBeGreaterThan(10)
    expect(whole.at(-1)!.type).toBe('metadata')
  })
})

describe('model ID resolution', () => {
  it('accepts a pool name, and any model ID of a pool percent-encoded as SDKs send it', async () => {
    for (const id of ['sonnet', SONNET, 'eu.anthropic.claude-haiku-4-5-20251001-v1:0']) {
      const res = await post(`/model/${encodeURIComponent(id)}/converse`)
      expect(res.status, id).toBe(200)
    }
    const { requests } = await h.control('/__sim/requests')
    expect(requests.map((r: any) => r.modelId).sort()).toEqual(['eu.anthropic.claude-haiku-4-5-20251001-v1:0', SONNET, SONNET])
  })

  it('says what an answer cost, from its real usage at the model’s price', async () => {
    const res = await post('/model/sonnet/converse')
    const { usage } = (await res.json()) as any
    const price = defaultPrice(SONNET)!
    const expected = (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1e6
    expect(Number(res.headers.get('x-router-cost-usd'))).toBeCloseTo(expected, 9)
    expect(res.headers.get('server-timing')).toMatch(/^router;dur=\d+, upstream;dur=\d+$/)
  })

  it('passes a prompt router ARN through, encoded, and reports the invoked model — and prices the answer at it', async () => {
    const res = await post(`/model/router/converse`)
    expect(res.status).toBe(200)
    const invoked = res.headers.get('x-router-invoked-model')!
    expect(invoked).toMatch(/^arn:aws:bedrock:us-east-1:\d+:inference-profile\//)
    const { usage } = (await res.json()) as any
    const price = defaultPrice(invoked)!
    expect(Number(res.headers.get('x-router-cost-usd'))).toBeCloseTo((usage.inputTokens * price.input + usage.outputTokens * price.output) / 1e6, 9)
    const [req] = (await upstreamRequests()) as any[]
    expect(req.path).toBe(`/model/${encodeURIComponent(IPR)}/converse`)
  })

  it('uses a named credential set (here a Bedrock API key) for its deployment', async () => {
    expect((await post('/model/haiku/converse')).status).toBe(200)
    const [req] = (await upstreamRequests()) as any[]
    expect(req.auth.scheme).toBe('bearer')
  })
})

describe('errors in Bedrock shape; nothing invalid goes upstream', () => {
  const cases: Array<[string, () => Promise<Response>, number, string]> = [
    ['no key', () => post('/model/sonnet/converse', { key: null }), 401, 'UnrecognizedClientException'],
    ['bad key', () => post('/model/sonnet/converse', { key: 'nope' }), 401, 'UnrecognizedClientException'],
    ['unknown model', () => post('/model/nope/converse'), 404, 'ResourceNotFoundException'],
    ['malformed JSON', () => post('/model/sonnet/converse', { body: '{"messages": [' }), 400, 'ValidationException'],
    ['non-object body', () => post('/model/sonnet/converse', { body: '[1,2]' }), 400, 'ValidationException'],
    ['messages not an array', () => post('/model/sonnet/converse-stream', { body: '{"messages": "hi"}' }), 400, 'ValidationException'],
    ['unknown route', () => post('/model/sonnet/async-invoke'), 404, 'UnknownOperationException'],
  ]
  for (const [name, send, status, type] of cases) {
    it(`${name} → ${status} ${type}`, async () => {
      const res = await send()
      expect(res.status).toBe(status)
      expect(res.headers.get('x-amzn-errortype')).toBe(type)
      const json = (await res.json()) as { message: string }
      expect(typeof json.message).toBe('string')
      expect(json.message.length).toBeGreaterThan(5)
      expect(await upstreamRequests()).toHaveLength(0)
    })
  }

  it('a deployment without credentials is skipped with a clear reason, and credentials never leak', async () => {
    const res = await post('/model/broken/converse')
    expect(res.status).toBe(503)
    const text = await res.text()
    expect(text).toContain('NO_MODELS_AVAILABLE')
    expect(res.headers.get('x-router-failovers')).toBe('nokeys=misconfigured:InternalServerException')
    expect(text).not.toContain('SECRET')
    expect(await upstreamRequests()).toHaveLength(0)
  })

  it('health: status for anyone, problems and state only with a router key, secrets never', async () => {
    const anonymous = await fetch(`${h.router.url}/health`)
    expect(anonymous.status).toBe(503)
    expect(await anonymous.json()).toEqual({ status: 'unhealthy' })
    const res = await fetch(`${h.router.url}/health`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })
    expect(res.status).toBe(503)
    const text = await res.text()
    expect(JSON.parse(text).pools.sonnet.state[0].id).toBe('sonnet-use1')
    expect(text).toContain('deployment nokeys: no upstream credentials')
    // Names of the variables to set are advice; their values never appear.
    for (const secret of [DEMO_SECRET_ACCESS_KEY, DEMO_API_KEY, DEMO_ACCESS_KEY_ID, CLIENT_KEY]) expect(text).not.toContain(secret)
    expect(text).not.toMatch(/bedrock-api-key-|AKID/)
  })
})
