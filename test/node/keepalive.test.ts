/**
 * Early answers (401 bad key, 404 unknown model or route) come before the router reads the request body. The
 * connection must stay usable for the client's next request: Node's keep-alive agent (what the AWS SDK uses
 * with NodeHttpHandler) sends it on the same socket, and a socket the server dropped without
 * `Connection: close` fails that request with "socket hang up".
 */
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { Agent, request } from 'node:http'
import type { Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const NOVA = 'us.amazon.nova-lite-v1:0'
let h: Harness

beforeAll(async () => {
  h = await startHarness((e) => ({ pools: { chat: { deployments: [{ id: 'usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }] } } }))
})
afterAll(() => h?.close())

const messages = [{ role: 'user' as const, content: [{ text: 'Hello there' }] }]

/** One keep-alive socket at a time, so consecutive requests share a connection whenever the server allows. */
function keepAliveAgent() {
  return new Agent({ keepAlive: true, maxSockets: 1 })
}

function sdk(agent: Agent, token: string) {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.router.url,
    token: { token },
    authSchemePreference: ['httpBearerAuth'],
    requestHandler: new NodeHttpHandler({ httpAgent: agent }),
    maxAttempts: 1,
  })
}

describe('AWS SDK with a keep-alive agent: an early error leaves the connection usable', () => {
  it('bad key (401), then a good request on the same agent', async () => {
    const agent = keepAliveAgent()
    try {
      await expect(sdk(agent, 'not-a-router-key').send(new ConverseCommand({ modelId: 'chat', messages }))).rejects.toMatchObject({
        name: 'UnrecognizedClientException',
        $metadata: { httpStatusCode: 401 },
      })
      const out = await sdk(agent, CLIENT_KEY).send(new ConverseCommand({ modelId: 'chat', messages }))
      expect(out.output?.message?.content?.[0]?.text).toMatch(/^Hello from us-west-2/)
    } finally {
      agent.destroy()
    }
  })

  it('unknown model (404), then a good request on the same agent', async () => {
    const agent = keepAliveAgent()
    try {
      await expect(sdk(agent, CLIENT_KEY).send(new ConverseCommand({ modelId: 'no.such-model-v1:0', messages }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 404 },
      })
      const out = await sdk(agent, CLIENT_KEY).send(new ConverseCommand({ modelId: NOVA, messages }))
      expect(out.output?.message?.content?.[0]?.text).toMatch(/^Hello from us-west-2/)
    } finally {
      agent.destroy()
    }
  })
})

/** A raw request on `agent`; resolves with the answer and the socket it travelled on. */
function send(agent: Agent, method: string, path: string, headers: Record<string, string>, body?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string; socket: Socket }>((resolve, reject) => {
    const url = new URL(path, h.router.url)
    const req = request(url, { method, agent, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, socket: req.socket as Socket }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)))
    req.end(body)
  })
}

describe('every early answer keeps the socket and says what it is', () => {
  const big = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'x'.repeat(256 * 1024) }] }] })
  const cases: Array<{ what: string; method: string; path: string; headers: Record<string, string>; status: number; errorType: string }> = [
    { what: 'bad key', method: 'POST', path: '/model/chat/converse', headers: { authorization: 'Bearer wrong' }, status: 401, errorType: 'UnrecognizedClientException' },
    { what: 'no key', method: 'POST', path: '/model/chat/converse-stream', headers: {}, status: 401, errorType: 'UnrecognizedClientException' },
    { what: 'unknown model', method: 'POST', path: '/model/nope/converse', headers: { authorization: `Bearer ${CLIENT_KEY}` }, status: 404, errorType: 'ResourceNotFoundException' },
    { what: 'operation not served', method: 'POST', path: '/model/chat/async-invoke', headers: { authorization: `Bearer ${CLIENT_KEY}` }, status: 404, errorType: 'UnknownOperationException' },
    { what: 'unknown route', method: 'POST', path: '/v2/nothing-here', headers: { authorization: `Bearer ${CLIENT_KEY}` }, status: 404, errorType: 'UnknownOperationException' },
  ]
  for (const c of cases) {
    it(`${c.what}: ${c.status} ${c.errorType} as JSON, then the next request on the same socket is served`, async () => {
      const agent = keepAliveAgent()
      try {
        // A body large enough that it cannot sit unread in socket buffers.
        const first = await send(agent, c.method, c.path, { ...c.headers, 'content-type': 'application/json' }, big)
        expect(first.status).toBe(c.status)
        expect(first.headers['content-type']).toBe('application/json')
        expect(first.headers['x-amzn-errortype']).toBe(c.errorType)
        expect(JSON.parse(first.body).message).toEqual(expect.any(String))
        const second = await send(agent, 'POST', '/model/chat/converse', { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, JSON.stringify({ messages }))
        expect(second.status).toBe(200)
        expect(second.headers['content-type']).toBe('application/json')
        expect(second.socket).toBe(first.socket) // the same connection: it was kept, not replaced
      } finally {
        agent.destroy()
      }
    })
  }
})

describe('every kind of answer says its content type', () => {
  const key = { authorization: `Bearer ${CLIENT_KEY}` }
  const hello = JSON.stringify({ messages })
  const cases: Array<{ what: string; method: string; path: string; headers?: Record<string, string>; body?: string; status: number; type: string }> = [
    { what: 'health', method: 'GET', path: '/health', status: 200, type: 'application/json' },
    { what: 'health with detail', method: 'GET', path: '/health', headers: key, status: 200, type: 'application/json' },
    { what: 'Converse', method: 'POST', path: '/model/chat/converse', headers: key, body: hello, status: 200, type: 'application/json' },
    { what: 'ConverseStream', method: 'POST', path: '/model/chat/converse-stream', headers: key, body: hello, status: 200, type: 'application/vnd.amazon.eventstream' },
    { what: 'ConverseStream as SSE', method: 'POST', path: '/model/chat/converse-stream', headers: { ...key, accept: 'text/event-stream' }, body: hello, status: 200, type: 'text/event-stream; charset=utf-8' },
    { what: 'malformed JSON', method: 'POST', path: '/model/chat/converse', headers: key, body: '{', status: 400, type: 'application/json' },
    { what: 'wrong method', method: 'GET', path: '/model/chat/converse', headers: key, status: 404, type: 'application/json' },
    { what: 'unknown path without a key', method: 'GET', path: '/', status: 404, type: 'application/json' },
  ]
  for (const c of cases) {
    it(`${c.what}: ${c.status} ${c.type}`, async () => {
      const agent = keepAliveAgent()
      try {
        const res = await send(agent, c.method, c.path, { 'content-type': 'application/json', ...c.headers }, c.body)
        expect(res.status).toBe(c.status)
        expect(res.headers['content-type']).toBe(c.type)
        if (c.type === 'application/json') expect(() => JSON.parse(res.body)).not.toThrow()
      } finally {
        agent.destroy()
      }
    })
  }
})
