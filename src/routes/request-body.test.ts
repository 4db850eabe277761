/** Early answers read and drop the unread rest of the request body, within bounds (see request-body.ts). */
import { describe, expect, it } from 'vitest'
import { createApp } from '../app'
import { MemoryStateStore } from '../state/memory'
import { discard, MAX_BODY_BYTES } from './request-body'

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
    expect(res.status).toBe(400)
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
