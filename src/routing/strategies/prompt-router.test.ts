import { describe, expect, it } from 'vitest'
import { decide, record } from '../core'
import { isPromptRouterArn } from '../models'
import { mulberry32 } from '../random'
import { createPoolState } from '../state'
import { BREAKER, T0, deployment, dispatched, outcome, pool, tally } from '../test-helpers'

const req = { inputTokens: 100, maxTokens: 100, stream: false }
const east = deployment('east', { modelId: 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1' })
const west = deployment('west', { modelId: 'arn:aws:bedrock:us-west-2:123456789012:prompt-router/r2d2c3po', region: 'us-west-2' })
const plain = deployment('plain', { modelId: 'us.anthropic.claude-3-5-haiku-20241022-v1:0' })

describe('bedrock-ipr strategy', () => {
  it('routes among prompt router deployments by weight while healthy; plain models stay out', () => {
    expect(isPromptRouterArn(east.modelId) && isPromptRouterArn(west.modelId)).toBe(true)
    const p = pool([plain, { ...east, weight: 3 }, west], { strategy: 'bedrock-ipr' })
    const state = createPoolState(p)
    const rng = mulberry32(1)
    const ids = Array.from({ length: 4000 }, (_, i) => dispatched(decide(p, state, req, [], T0 + i, rng)).deploymentId)
    const counts = tally(ids)
    expect(counts.plain).toBeUndefined()
    expect(counts.east / 4000).toBeCloseTo(0.75, 1)
  })

  it('prefers the healthier router', () => {
    const p = pool([east, west], { strategy: 'bedrock-ipr', breaker: { ...BREAKER, consecutiveFailures: 1000, minRequests: 1000 } })
    const state = createPoolState(p)
    const rng = mulberry32(2)
    // east fails 3 of 4 recent requests
    for (let i = 0; i < 40; i++) {
      const d = decide(p, state, req, ['west'], T0 + i, rng)
      record(p, state, outcome(d, i % 4 === 0 ? 'success' : 'unavailable'), T0 + i)
    }
    const ids = Array.from({ length: 2000 }, (_, i) => dispatched(decide(p, state, req, [], T0 + 100 + i, rng)).deploymentId)
    expect(tally(ids).east / 2000).toBeCloseTo(0.2, 1) // 0.25 / (0.25 + 1)
  })

  it('falls back to plain models only when no router is usable', () => {
    const p = pool([east, west, plain], { strategy: 'bedrock-ipr', breaker: { ...BREAKER, consecutiveFailures: 1 } })
    const state = createPoolState(p)
    const rng = mulberry32(3)
    record(p, state, outcome(decide(p, state, req, ['west'], T0, rng), 'unavailable'), T0)
    expect(dispatched(decide(p, state, req, [], T0 + 1, rng)).deploymentId).toBe('west')
    record(p, state, outcome(decide(p, state, req, [], T0 + 1, rng), 'misconfigured'), T0 + 1)
    expect(dispatched(decide(p, state, req, [], T0 + 2, rng)).deploymentId).toBe('plain')
  })

  it('gives a half-open router a reduced share while it probes', () => {
    const p = pool([east, west], { strategy: 'bedrock-ipr', breaker: { ...BREAKER, consecutiveFailures: 1, halfOpenProbes: 10_000 } })
    const state = createPoolState(p)
    const rng = mulberry32(4)
    record(p, state, outcome(decide(p, state, req, ['west'], T0, rng), 'unavailable'), T0)
    const later = T0 + BREAKER.cooldownMs
    const ids = Array.from({ length: 3000 }, (_, i) => dispatched(decide(p, state, req, [], later + i, rng)).deploymentId)
    expect(tally(ids).east / 3000).toBeCloseTo(0.2, 1) // 0.25 / (0.25 + 1)
  })

  it('gives a half-open router its probe', () => {
    const p = pool([east, west], { strategy: 'bedrock-ipr', breaker: { ...BREAKER, consecutiveFailures: 1 } })
    const state = createPoolState(p)
    const rng = mulberry32(4)
    record(p, state, outcome(decide(p, state, req, ['west'], T0, rng), 'unavailable'), T0)
    const later = T0 + BREAKER.cooldownMs
    const ids = Array.from({ length: 200 }, (_, i) => dispatched(decide(p, state, req, [], later + i, rng)).deploymentId)
    expect(tally(ids).east).toBe(1) // one probe at a time, the rest to the healthy router
  })
})
