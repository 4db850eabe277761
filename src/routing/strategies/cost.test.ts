import { describe, expect, it } from 'vitest'
import { decide, record } from '../core'
import { mulberry32 } from '../random'
import { createPoolState } from '../state'
import { T0, deployment, dispatched, outcome, pool, tally } from '../test-helpers'

const req = { inputTokens: 1000, maxTokens: 500, stream: false }

describe('cost strategy', () => {
  const sonnet = deployment('sonnet', { modelId: 'us.anthropic.claude-sonnet-4-6', rpm: 100 })
  const haiku = deployment('haiku', { modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', rpm: 100 })
  const micro = deployment('micro', { modelId: 'us.amazon.nova-micro-v1:0', family: 'amazon', rpm: 2 })

  it('picks the cheapest usable deployment', () => {
    const p = pool([sonnet, haiku, micro], { strategy: 'cost' })
    const state = createPoolState(p)
    const d = decide(p, state, req, [], T0, mulberry32(1))
    expect(dispatched(d).deploymentId).toBe('micro')
    expect(d.kind === 'dispatch' && d.reason).toMatch(/cheapest/)
  })

  it('moves to the next cheapest when the cheapest has no headroom', () => {
    const p = pool([sonnet, haiku, micro], { strategy: 'cost' })
    const state = createPoolState(p)
    const rng = mulberry32(1)
    const ids = [0, 1, 2, 3].map((i) => dispatched(decide(p, state, req, [], T0 + i, rng)).deploymentId)
    expect(ids).toEqual(['micro', 'micro', 'haiku', 'haiku'])
  })

  it('skips tried and unhealthy ones', () => {
    const p = pool([sonnet, haiku, micro], { strategy: 'cost' })
    const state = createPoolState(p)
    const rng = mulberry32(1)
    expect(dispatched(decide(p, state, req, ['micro'], T0, rng)).deploymentId).toBe('haiku')
    record(p, state, outcome(decide(p, state, req, ['micro'], T0, rng), 'misconfigured'), T0)
    expect(dispatched(decide(p, state, req, ['micro'], T0 + 1000, rng)).deploymentId).toBe('sonnet')
  })

  it('configured prices win over the table; unknown prices come last', () => {
    const cheapSonnet = { ...sonnet, id: 'deal', price: { input: 0.01, output: 0.01 } }
    const mystery = deployment('mystery', { modelId: 'acme.model-v1' })
    const p = pool([mystery, micro, cheapSonnet], { strategy: 'cost' })
    const state = createPoolState(p)
    expect(dispatched(decide(p, state, req, [], T0, mulberry32(1))).deploymentId).toBe('deal')
    expect(dispatched(decide(p, state, req, ['deal', 'micro'], T0, mulberry32(1))).deploymentId).toBe('mystery')
  })

  it('spreads equal prices by headroom', () => {
    const east = deployment('east', { modelId: 'us.amazon.nova-lite-v1:0', rpm: 50 })
    const west = deployment('west', { modelId: 'us.amazon.nova-lite-v1:0', rpm: 50 })
    const p = pool([east, west], { strategy: 'cost' })
    const state = createPoolState(p)
    const rng = mulberry32(4)
    const ids = Array.from({ length: 60 }, (_, i) => dispatched(decide(p, state, req, [], T0 + i, rng)).deploymentId)
    const counts = tally(ids)
    expect(Math.abs(counts.east - counts.west)).toBeLessThanOrEqual(4)
  })

  it('global profiles of 4.5-generation Claude are cheaper than geographic ones', () => {
    const geo = deployment('geo', { modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0' })
    const global = deployment('global', { modelId: 'global.anthropic.claude-sonnet-4-5-20250929-v1:0' })
    const p = pool([geo, global], { strategy: 'cost' })
    expect(dispatched(decide(p, createPoolState(p), req, [], T0, mulberry32(1))).deploymentId).toBe('global')
  })
})
