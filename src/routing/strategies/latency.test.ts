import { describe, expect, it } from 'vitest'
import { decide, record, snapshot } from '../core'
import { mulberry32 } from '../random'
import { createPoolState } from '../state'
import { T0, deployment, dispatched, outcome, pool, tally } from '../test-helpers'
import type { PoolConfig, StrategyName } from '../../config/types'
import type { PoolState } from '../types'

const converse = { inputTokens: 100, maxTokens: 100, stream: false }
const stream = { ...converse, stream: true }

function measure(p: PoolConfig, state: PoolState, id: string, ms: number, now: number, kind = converse) {
  const others = p.deployments.map((d) => d.id).filter((x) => x !== id)
  const d = decide(p, state, kind, others, now, mulberry32(now))
  expect(dispatched(d).deploymentId).toBe(id)
  record(p, state, outcome(d, 'success', { latencyMs: ms, stream: kind.stream, usage: { inputTokens: 1, outputTokens: 1 } }), now)
}

describe('latency strategy', () => {
  const setup = (extra: Partial<PoolConfig> = {}) => {
    const p = pool([deployment('a'), deployment('b'), deployment('c')], { strategy: 'latency' as StrategyName, ...extra })
    return { p, state: createPoolState(p) }
  }

  it('tries an unmeasured deployment first, then the fastest', () => {
    const { p, state } = setup()
    measure(p, state, 'a', 900, T0)
    measure(p, state, 'b', 300, T0)
    const first = decide(p, state, converse, [], T0 + 10, mulberry32(1))
    expect(dispatched(first).deploymentId).toBe('c') // unmeasured
    record(p, state, outcome(first, 'success', { latencyMs: 600 }), T0 + 20)
    for (let i = 0; i < 20; i++) expect(dispatched(decide(p, state, converse, [], T0 + 30 + i, mulberry32(i))).deploymentId).toBe('b')
  })

  it('keeps separate averages for streams (time to first byte) and Converse', () => {
    const { p, state } = setup()
    for (const [id, total, ttfb] of [['a', 400, 900], ['b', 900, 200], ['c', 800, 800]] as const) {
      measure(p, state, id, total, T0)
      measure(p, state, id, ttfb, T0, stream)
    }
    expect(dispatched(decide(p, state, converse, [], T0 + 1, mulberry32(1))).deploymentId).toBe('a')
    expect(dispatched(decide(p, state, stream, [], T0 + 1, mulberry32(1))).deploymentId).toBe('b')
    expect(snapshot(p, state, T0 + 1)[1].latencyMs).toEqual({ converse: 900, stream: 200 })
  })

  it('follows the moving average as a deployment slows down', () => {
    const { p, state } = setup()
    measure(p, state, 'a', 300, T0)
    measure(p, state, 'b', 400, T0)
    measure(p, state, 'c', 500, T0)
    for (let i = 1; i <= 5; i++) measure(p, state, 'a', 2000, T0 + i)
    expect(dispatched(decide(p, state, converse, [], T0 + 10, mulberry32(1))).deploymentId).toBe('b')
  })

  it('re-measures a deployment whose samples are older than latencyTtlMs', () => {
    const { p, state } = setup({ latencyTtlMs: 30_000 })
    measure(p, state, 'a', 2000, T0) // slow once
    measure(p, state, 'b', 300, T0 + 20_000)
    measure(p, state, 'c', 400, T0 + 20_000)
    expect(dispatched(decide(p, state, converse, [], T0 + 29_000, mulberry32(1))).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, converse, [], T0 + 31_000, mulberry32(1))).deploymentId).toBe('a') // stale
  })

  it('measures one request at a time instead of piling onto an unmeasured deployment', () => {
    const { p, state } = setup()
    measure(p, state, 'a', 300, T0)
    measure(p, state, 'b', 400, T0)
    const probe = decide(p, state, converse, [], T0 + 1, mulberry32(1))
    expect(dispatched(probe).deploymentId).toBe('c')
    expect(dispatched(decide(p, state, converse, [], T0 + 2, mulberry32(1))).deploymentId).toBe('a')
    // a failed measurement lets the next request measure again
    record(p, state, outcome(probe, 'unavailable'), T0 + 3)
    expect(dispatched(decide(p, state, converse, [], T0 + 4, mulberry32(1))).deploymentId).toBe('c')
  })

  it('explores: with probability `exploration` a random usable deployment', () => {
    const { p, state } = setup({ exploration: 0.3 })
    measure(p, state, 'a', 100, T0)
    measure(p, state, 'b', 500, T0)
    measure(p, state, 'c', 900, T0)
    const rng = mulberry32(8)
    const ids: string[] = []
    for (let i = 0; i < 3000; i++) {
      const d = decide(p, state, converse, [], T0 + 1, rng)
      ids.push(dispatched(d).deploymentId)
    }
    const counts = tally(ids)
    // 70% best + 30% uniform: a ≈ 80%, b ≈ c ≈ 10%
    expect(counts.a / 3000).toBeCloseTo(0.8, 1)
    expect(counts.b / 3000).toBeCloseTo(0.1, 1)
    expect(counts.c / 3000).toBeCloseTo(0.1, 1)
  })

  it('skips deployments without headroom', () => {
    const p = pool([deployment('a', { rpm: 1 }), deployment('b')], { strategy: 'latency' })
    const state = createPoolState(p)
    measure(p, state, 'a', 100, T0)
    measure(p, state, 'b', 900, T0)
    expect(dispatched(decide(p, state, converse, [], T0 + 1, mulberry32(1))).deploymentId).toBe('b')
  })
})
