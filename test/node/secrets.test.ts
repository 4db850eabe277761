/**
 * An upstream that echoes what the router signed its request with — the Authorization header, the session token —
 * in its error messages, and names its errors outside Bedrock's alphabet: whatever the client gets, through every
 * front door and in streams, carries none of it (src/upstream/redact.ts).
 */
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeEventFrame, encodeExceptionFrame } from '../../src/wire/eventstream'
import { startRouter, type RouterProcess } from '../../scripts/router-runtime'
import { CLIENT_KEY } from './harness'
import { ECHO_SECRET_ACCESS_KEY, ECHO_SESSION_TOKEN } from '../support/secrets'

const ACCESS_KEY = 'AKIAECHOTESTKEY00001'
const SECRET_KEY = ECHO_SECRET_ACCESS_KEY
const SESSION_TOKEN = ECHO_SESSION_TOKEN
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'

let upstream: Server
let router: RouterProcess
let echoUrl = ''

/** What an echoing upstream would say: every credential-bearing header it was sent. */
const echo = (req: IncomingMessage) => `denied: you sent authorization=${req.headers.authorization} and x-amz-security-token=${req.headers['x-amz-security-token']}`

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const stream = req.url!.endsWith('-stream')
      if (req.url!.includes('weird') && !stream) {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': '<b>Injected</b>' })
        res.end(JSON.stringify({ message: echo(req) }))
      } else if (!stream) {
        res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': 'ValidationException' })
        res.end(JSON.stringify({ message: echo(req), echoedHeaders: req.headers }))
      } else {
        // A stream that starts, then fails with an exception frame echoing the credentials.
        res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' })
        res.write(encodeEventFrame('messageStart', JSON.stringify({ role: 'assistant' })))
        res.write(encodeEventFrame('contentBlockDelta', JSON.stringify({ contentBlockIndex: 0, delta: { text: 'Hel' } })))
        res.end(encodeExceptionFrame('modelStreamErrorException', echo(req)))
      }
    })
  })
  upstream.listen(0, '127.0.0.1')
  await once(upstream, 'listening')
  const address = upstream.address() as { port: number }
  echoUrl = `http://127.0.0.1:${address.port}`
  const deployment = (id: string, modelId = MODEL) => ({ id, modelId, region: 'us-east-1', endpoint: echoUrl })
  router = await startRouter({
    vars: {
      ROUTER_CONFIG: JSON.stringify({ pools: { echo: { deployments: [deployment('echo-1')] }, weird: { deployments: [deployment('weird-1')] } } }),
      ROUTER_API_KEYS: CLIENT_KEY,
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_SESSION_TOKEN: SESSION_TOKEN,
    },
  })
})
afterAll(async () => {
  await router?.close()
  upstream?.close()
})

const LEAKS = [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, 'Signature=', 'IQoJb3JpZ2lu']
function expectNoLeak(where: string, text: string) {
  for (const leak of LEAKS) {
    if (leak === 'Signature=') expect(text, where).not.toMatch(/Signature=(?!\[redacted\])/)
    else expect(text, where).not.toContain(leak)
  }
}
const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] })
const post = (path: string, payload: string, headers: Record<string, string> = {}) =>
  fetch(`${router.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: payload })

describe('an upstream that echoes the request’s credentials', () => {
  it('sees them (so the test means something)', async () => {
    const res = await fetch(`${echoUrl}/model/x/converse`, { method: 'POST', headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIAECHOTESTKEY00001/x, Signature=abc' }, body: '{}' })
    expect(await res.text()).toContain('AKIAECHOTESTKEY00001')
  })

  it('Bedrock Converse: the relayed error is redacted, not upstream’s body verbatim', async () => {
    const res = await post('/model/echo/converse', body)
    expect(res.status).toBe(400)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^ValidationException/)
    const text = await res.text()
    expect(text).toMatch(/denied: you sent authorization=AWS4-HMAC-SHA256 Credential=\[redacted\]/)
    expect(text).not.toContain('echoedHeaders')
    expectNoLeak('converse', text)
    res.headers.forEach((v, k) => expectNoLeak(`header ${k}`, v))
  })

  it('an error name outside Bedrock’s alphabet is not passed on', async () => {
    const res = await post('/model/weird/converse', body)
    expect(res.status).toBe(400)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^ValidationException/)
    const text = await res.text()
    expect(text).not.toContain('<b>')
    expectNoLeak('weird', text)
  })

  it('streams: the exception frame is rewritten from the redacted message (binary and SSE)', async () => {
    const binary = await post('/model/echo/converse-stream', body)
    expect(binary.status).toBe(200)
    const bytes = Buffer.from(await binary.arrayBuffer()).toString('latin1')
    expect(bytes).toContain('modelStreamErrorException')
    expect(bytes).toContain('[redacted]')
    expectNoLeak('binary stream', bytes)
    const sse = await post('/model/echo/converse-stream', body, { accept: 'text/event-stream' })
    const text = await sse.text()
    expect(text).toMatch(/"type":"modelStreamErrorException","message":"denied: you sent authorization=AWS4-HMAC-SHA256 Credential=\[redacted\]/)
    expectNoLeak('sse stream', text)
  })

  it('the OpenAI and Anthropic doors say the same, redacted', async () => {
    const openai = await post('/v1/chat/completions', JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }))
    expect(openai.status).toBe(400)
    expectNoLeak('openai', await openai.text())
    const openaiStream = await post('/v1/chat/completions', JSON.stringify({ model: 'echo', stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    expectNoLeak('openai stream', await openaiStream.text())
    const anthropic = await post('/v1/messages', JSON.stringify({ model: 'echo', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }))
    expect(anthropic.status).toBe(400)
    expectNoLeak('anthropic', await anthropic.text())
    const anthropicStream = await post('/v1/messages', JSON.stringify({ model: 'echo', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] }))
    expectNoLeak('anthropic stream', await anthropicStream.text())
  })
})
