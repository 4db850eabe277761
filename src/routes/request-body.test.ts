/** Early answers read and drop the unread rest of the request body, within bounds (see request-body.ts). */
import { describe, expect, it } from 'vitest'
import { createApp } from '../app'
import { MemoryStateStore } from '../state/memory'
import { bodyLimits, discard, MAX_BODY_BYTES, MAX_JSON_DEPTH } from './request-body'

const app = createApp({ stateStore: () => new MemoryStateStore() })
const config = JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }] } } })
const env = { ROUTER_API_KEYS: 'k', ROUTER_CONFIG: config }
const MiB = 1024 * 1024

/** A body of `chunks` × `size` bytes that counts how much of it was pulled. */
function countingBody(chunks: number, size = MiB) {
  const seen = { bytes: 0, done: false }
  let sent = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === chunks) {
        seen.done = true
        controller.close()
        return
      }
      sent++
      seen.bytes += size
      controller.enqueue(new Uint8Array(size))
    },
  })
  return { stream, seen }
}

const post = (path: string, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  app.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' } as RequestInit, env)

describe('unread request bodies', () => {
  it('a 401 reads the whole unread body before answering, and keeps the connection', async () => {
    const { stream, seen } = countingBody(3)
    const res = await post('/model/p/converse', stream, { authorization: 'Bearer wrong' })
    expect(res.status).toBe(401)
    expect(seen).toEqual({ bytes: 3 * MiB, done: true })
    expect(res.headers.get('connection')).toBeNull()
  })

  it('a 404 for an unknown route does the same', async () => {
    const { stream, seen } = countingBody(2)
    const res = await post('/model/p/async-invoke', stream, { authorization: 'Bearer k' })
    expect(res.status).toBe(404)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(seen.done).toBe(true)
  })

  it('stops reading past the size the router accepts, and says the connection closes', async () => {
    const { stream, seen } = countingBody(64)
    const res = await post('/model/p/converse', stream, { authorization: 'Bearer wrong' })
    expect(res.status).toBe(401)
    expect(res.headers.get('connection')).toBe('close')
    expect(seen.done).toBe(false)
    expect(seen.bytes).toBeLessThanOrEqual(MAX_BODY_BYTES + 4 * MiB) // a chunk or a few of read-ahead, not 64
  })

  it('a Content-Length over the limit is not read at all', async () => {
    const { stream, seen } = countingBody(1)
    const res = await post('/model/p/converse', stream, { authorization: 'Bearer k', 'content-length': String(MAX_BODY_BYTES + 1) })
    expect(res.status).toBe(413)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^ValidationException/)
    expect(res.headers.get('connection')).toBe('close')
    expect(seen.bytes).toBeLessThanOrEqual(MiB)
  })

  it('gives up on a body slower than the time limit', async () => {
    let pulls = 0
    const slow = new ReadableStream<Uint8Array>({
      async pull(controller) {
        pulls++
        await new Promise((resolve) => setTimeout(resolve, 20))
        controller.enqueue(new Uint8Array(1))
      },
    })
    const started = Date.now()
    expect(await discard(slow, MAX_BODY_BYTES, 100)).toBe(false)
    expect(Date.now() - started).toBeLessThan(1000)
    expect(pulls).toBeLessThan(50)
  })

  it('a body read by the route is left alone', async () => {
    const res = await app.request('/model/p/converse', { method: 'POST', body: '{"messages":"no"}', headers: { authorization: 'Bearer k' } }, env)
    expect(res.status).toBe(400)
    expect(res.headers.get('connection')).toBeNull()
  })
})

describe('request body limits (each front door, nothing sent upstream)', () => {
  const limited = { ...env, ROUTER_MAX_BODY_BYTES: String(64 * 1024), ROUTER_BODY_TIMEOUT_MS: '200' }
  const send = (path: string, body: BodyInit, headers: Record<string, string> = {}, e: Record<string, string> = limited) =>
    app.request(path, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: 'Bearer k', 'x-api-key': 'k', 'anthropic-version': '2023-06-01', ...headers }, duplex: 'half' } as RequestInit, e)

  it('the limit is configurable and enforced while the body streams in (chunked: no Content-Length)', async () => {
    expect(bodyLimits({}).maxBytes).toBe(MAX_BODY_BYTES)
    expect(bodyLimits({ ROUTER_MAX_BODY_BYTES: '12.5' }).maxBytes).toBe(MAX_BODY_BYTES) // not an integer: the default
    expect(bodyLimits({ ROUTER_MAX_BODY_BYTES: String(2 ** 40) }).maxBytes).toBe(100 * MiB) // capped
    for (const [path, shape] of [
      ['/model/p/converse', /ValidationException/],
      ['/v1/chat/completions', /"request_too_large"/],
      ['/v1/messages', /"request_too_large"/],
    ] as const) {
      const { stream, seen } = countingBody(8, 16 * 1024) // 128 KiB, over the 64 KiB limit
      const res = await send(path, stream)
      expect(res.status, path).toBe(413)
      expect(`${res.headers.get('x-amzn-errortype')} ${await res.text()}`, path).toMatch(shape)
      expect(res.headers.get('connection')).toBe('close')
      expect(seen.done, path).toBe(false) // stopped reading
    }
  })

  it('a body that stalls (Content-Length promising more than is sent) gets 408 within the deadline, not a hang', async () => {
    for (const path of ['/model/p/converse', '/v1/chat/completions', '/v1/messages']) {
      const stalled = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"messages": ['))
          // … and nothing more, never closed.
        },
      })
      const started = Date.now()
      const res = await send(path, stalled)
      expect(res.status, path).toBe(408)
      expect(Date.now() - started).toBeLessThan(2000)
    }
  })

  it('JSON nested past the depth limit is a clear 400 before any work that could overflow the stack', async () => {
    const deep = '{"messages":[{"role":"user","content":[{"text":"x","json":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}]}]}'
    for (const [path, shape] of [
      ['/model/p/converse', /ValidationException/],
      ['/v1/chat/completions', /invalid_request_error/],
      ['/v1/messages', /invalid_request_error/],
    ] as const) {
      const res = await send(path, deep, {}, { ...env, ROUTER_MAX_BODY_BYTES: String(MiB) })
      expect(res.status, path).toBe(400)
      const text = await res.text()
      expect(`${res.headers.get('x-amzn-errortype')} ${text}`, path).toMatch(shape)
      expect(text).toContain(`deeper than ${MAX_JSON_DEPTH} levels`)
    }
  })
})
