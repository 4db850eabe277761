import { describe, expect, it, vi } from 'vitest'
import { MemoryStateStore } from '../state/memory'
import type { StateStore } from '../state/types'
import { StatsRecorder } from './recorder'
import { aggregate, type RequestEvent, type StatsBatch } from './rollup'

const event = (client = 'c'): RequestEvent => ({
  at: Date.now(), pool: 'p', operation: 'converse', requestedModel: 'p', deployment: 'a', model: 'm', client, tags: ['team=x'], outcome: 'success',
  abandoned: [], failFast: false, latencyMs: 12, ttftMs: 3, usage: { inputTokens: 7, outputTokens: 3 }, costUsd: 0.5,
})

function harness(store: StateStore) {
  const pending: Promise<unknown>[] = []
  const recorder = new StatsRecorder(store, 20)
  return { recorder, waitUntil: (p: Promise<unknown>) => void pending.push(p), drain: () => Promise.all(pending) }
}

describe('StatsRecorder', () => {
  it('many requests, one write: everything gathered within the flush interval goes in a single batch', async () => {
    const inner = new MemoryStateStore()
    const batches: StatsBatch[] = []
    const store = Object.assign(Object.create(inner), { addStats: async (b: StatsBatch) => (batches.push(b), inner.addStats(b)) }) as StateStore
    const { recorder, waitUntil, drain } = harness(store)
    for (let i = 0; i < 25; i++) recorder.record(event(`c${i % 3}`), [], waitUntil)
    await drain()
    expect(batches).toHaveLength(1)
    const { rows } = await inner.readStats(Date.now() - 3_600_000, Date.now() + 1)
    expect(aggregate(rows, { from: 0, to: Date.now() + 1, by: [], bucket: 'total' })[0]).toMatchObject({ requests: 25, costUsd: 12.5 })
  })

  it('a failed write is kept and sent with the next one; nothing is lost or counted twice', async () => {
    const inner = new MemoryStateStore()
    let fail = true
    const store = Object.assign(Object.create(inner), { addStats: async (b: StatsBatch) => (fail ? Promise.reject(new Error('down')) : inner.addStats(b)) }) as StateStore
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const { recorder, waitUntil, drain } = harness(store)
    recorder.record(event(), [], waitUntil)
    await drain()
    expect(error).toHaveBeenCalledOnce()
    fail = false
    recorder.record(event(), [], waitUntil)
    await drain()
    const { rows } = await inner.readStats(Date.now() - 3_600_000, Date.now() + 1)
    expect(aggregate(rows, { from: 0, to: Date.now() + 1, by: [], bucket: 'total' })[0].requests).toBe(2)
    error.mockRestore()
  })

  it('Analytics Engine: one data point per request, written at once; a failing dataset never breaks the request', () => {
    const points: unknown[] = []
    const { recorder, waitUntil } = harness(new MemoryStateStore())
    recorder.record(event('team-a'), [], waitUntil, { env: { ROUTER_ANALYTICS: { writeDataPoint: (p: unknown) => points.push(p) } } })
    expect(points).toEqual([
      { indexes: ['p'], blobs: ['p', 'a', 'm', 'team-a', '', 'success', 'converse', 'team=x'], doubles: [12, 3, 7, 3, 0, 0, 0.5, 0] },
    ])
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    expect(() => recorder.record(event(), [], waitUntil, { env: { ROUTER_ANALYTICS: { writeDataPoint: () => { throw new Error('quota') } } } })).not.toThrow()
    expect(error).toHaveBeenCalledOnce()
    error.mockRestore()
  })
})
