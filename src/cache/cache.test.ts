import { describe, expect, it } from 'vitest'
import { canonical, cacheKey } from './key'
import { MemoryResponseCache } from './memory'
import type { CachedAnswer, ResponseCache } from './types'
import { WorkersResponseCache } from './workers-cache'

const answer = (body = '{"output":{}}'): CachedAnswer => ({ kind: 'converse', body, deployment: 'a', storedAt: 1 })

describe('cache keys', () => {
  it('canonical: object keys in any order give the same key; arrays keep their order', async () => {
    expect(canonical({ b: 1, a: { d: [2, 1], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}')
    const one = await cacheKey({ pool: 'p', operation: 'converse', body: { messages: [1], inferenceConfig: { maxTokens: 5, temperature: 0 } }, scope: 'key:a' })
    const two = await cacheKey({ pool: 'p', operation: 'converse', body: { inferenceConfig: { temperature: 0, maxTokens: 5 }, messages: [1] }, scope: 'key:a' })
    expect(one).toBe(two)
    expect(await cacheKey({ pool: 'p', operation: 'converse', body: { messages: [1] }, scope: 'key:b' })).not.toBe(await cacheKey({ pool: 'p', operation: 'converse', body: { messages: [1] }, scope: 'key:a' }))
    expect(await cacheKey({ pool: 'p', operation: 'converse-stream', body: {} })).not.toBe(await cacheKey({ pool: 'p', operation: 'converse', body: {} }))
  })
})

async function contract(cache: ResponseCache) {
  const key = `k-${Math.random()}`
  expect(await cache.get(key)).toBeUndefined()
  await cache.put(key, answer(), 60)
  expect(await cache.get(key)).toEqual(answer())
  await cache.put(key, answer('x'.repeat(cache.maxEntryBytes + 1)), 60) // too large: not kept, the old one stays
  expect(await cache.get(key)).toEqual(answer())
}

describe('response cache backends', () => {
  it('memory: kept, expired after the TTL, bounded by entries and bytes', async () => {
    await contract(new MemoryResponseCache())
    let now = 0
    const cache = new MemoryResponseCache(2, 1000, 600, () => now)
    await cache.put('a', answer(), 10)
    now = 10_001
    expect(await cache.get('a')).toBeUndefined()
    await cache.put('a', answer(), 10)
    await cache.put('b', answer(), 10)
    await cache.put('c', answer(), 10)
    expect(await cache.get('a')).toBeUndefined() // the oldest went first
    expect(await cache.get('c')).toBeDefined()
  })

  it('the Workers Cache API (workerd)', async () => {
    await contract(new WorkersResponseCache(await caches.open('response-cache-test')))
  })
})
