/**
 * The response cache through the worker (workerd, the Workers Cache API as on Cloudflare): an identical request is
 * answered from the cache — nothing sent, no window charged, nothing spent — for Converse and for streams (replayed
 * with their framing); never an error; scoped per client unless shared; Cache-Control honoured.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const NOVA = 'us.amazon.nova-lite-v1:0'
const OTHER = 'ber_cache_other_0001'
const ADMIN = 'cache-admin-key'
let h: Harness
beforeAll(async () => {
  h = await startHarness(
    (e) => ({
      clients: { keys: [{ name: 'other', sha256: createHash('sha256').update(OTHER).digest('hex') }] },
      pools: {
        cached: { cache: { ttlSeconds: 300 }, strategy: 'rate-limit-aware', deployments: [{ id: 'c-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'], rpm: 2 }] },
        shared: { cache: { ttlSeconds: 300, shared: true }, deployments: [{ id: 's-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }] },
        plain: { deployments: [{ id: 'p-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      },
    }),
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100' },
  )
})
afterAll(() => h?.close())

let n = 0
const body = (text = `question ${++n}`) => ({ messages: [{ role: 'user', content: [{ text }] }], inferenceConfig: { maxTokens: 30 } })
const upstream = async () => ((await h.control('/__sim/requests')).requests as unknown[]).length
async function converse(pool: string, b: unknown, headers: Record<string, string> = {}, key = CLIENT_KEY) {
  const res = await fetch(`${h.router.url}/model/${pool}/converse`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(b) })
  return { res, text: await res.text() }
}

it('Converse: the second identical request is a hit — the same answer, nothing sent, no window charged, no cost', async () => {
  const b = body()
  const before = await upstream()
  const first = await converse('cached', b)
  expect(first.res.headers.get('x-router-cache')).toBe('miss')
  // The same request with its keys in another order, five times: the pool's rpm 2 would refuse the third if hits counted.
  const reordered = { inferenceConfig: b.inferenceConfig, messages: b.messages }
  for (let i = 0; i < 5; i++) {
    const hit = await converse('cached', reordered)
    expect(hit.res.status).toBe(200)
    expect(hit.res.headers.get('x-router-cache')).toBe('hit')
    expect(hit.text).toBe(first.text)
    expect(hit.res.headers.get('x-router-cost-usd')).toBe('0')
    expect(hit.res.headers.get('x-router-reason')).toMatch(/^response cache hit/)
  }
  expect((await upstream()) - before).toBe(1)
  let stats: any
  for (let i = 0; i < 50; i++) {
    stats = await (await fetch(`${h.router.url}/stats?since=1h&pool=cached`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
    if (stats.total.requests >= 6) break
    await new Promise((r) => setTimeout(r, 100))
  }
  expect(stats.total).toMatchObject({ requests: 6, cacheHits: 5 })
  expect(stats.total.costUsd).toBeCloseTo(Number(first.res.headers.get('x-router-cost-usd')), 9)
})

it('streams are replayed with their framing: the same events, as SSE and as the binary event stream', async () => {
  const b = body()
  const stream = (accept: string) => fetch(`${h.router.url}/model/cached/converse-stream`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept }, body: JSON.stringify(b) })
  const first = await stream('text/event-stream')
  const firstText = await first.text()
  expect(first.headers.get('x-router-cache')).toBe('miss')
  const before = await upstream()
  const again = await stream('text/event-stream')
  expect(again.headers.get('x-router-cache')).toBe('hit')
  const events = (t: string) => new SseParser().push(t).map((e) => [e.event, e.data])
  expect(events(await again.text())).toEqual(events(firstText))
  const binary = await stream('application/vnd.amazon.eventstream')
  expect(binary.headers.get('x-router-cache')).toBe('hit')
  expect((await binary.arrayBuffer()).byteLength).toBeGreaterThan(100)
  expect(await upstream()).toBe(before)
})

it('never an error: a failed answer is not kept, the next identical request goes upstream', async () => {
  const b = body()
  await h.control('/__sim/rules', { region: 'us-west-2', modelId: NOVA, fault: 'error', status: 503, errorType: 'ServiceUnavailableException', times: 1 })
  const failed = await converse('shared', b)
  expect(failed.res.status).toBe(503)
  expect(failed.res.headers.get('x-router-cache')).toBe('miss')
  const before = await upstream()
  const fresh = await converse('shared', b)
  expect(fresh.res.headers.get('x-router-cache')).toBe('miss')
  expect(fresh.res.status).toBe(200)
  expect(await upstream()).toBe(before + 1)
})

it('per client unless shared; Cache-Control no-cache skips the lookup, no-store bypasses both ways', async () => {
  const b = body()
  await converse('cached', b)
  expect((await converse('cached', b, {}, OTHER)).res.headers.get('x-router-cache')).toBe('miss') // another client
  await converse('shared', b)
  expect((await converse('shared', b, {}, OTHER)).res.headers.get('x-router-cache')).toBe('hit') // shared between clients
  const c = body()
  expect((await converse('shared', c, { 'cache-control': 'no-store' })).res.headers.get('x-router-cache')).toBe('bypass')
  expect((await converse('shared', c)).res.headers.get('x-router-cache')).toBe('miss') // no-store kept nothing
  const before = await upstream()
  expect((await converse('shared', c, { 'cache-control': 'no-cache' })).res.headers.get('x-router-cache')).toBe('miss')
  expect(await upstream()).toBe(before + 1)
  expect((await converse('plain', c)).res.headers.get('x-router-cache')).toBeNull() // a pool without a cache says nothing
})
