import { describe, expect, it } from 'vitest'
import { createPoolState, decide, record, snapshot } from './core'
import { T0, deployment, dispatched, outcome, pool } from './test-helpers'

// 100 input + 100 output cap = 200 tokens reserved per request (no burndown on this model).
const req = { inputTokens: 100, maxTokens: 100, stream: false }
const NOVA = { modelId: 'us.amazon.nova-lite-v1:0', family: 'amazon' }

describe('tokens per day', () => {
  it('admits while used + held tokens are below the quota, then skips the deployment for the rest of the UTC day, naming its quota', () => {
    const p = pool([deployment('a', { ...NOVA, tokensPerDay: 1000 }), deployment('b', { ...NOVA, fallback: true })])
    const state = createPoolState(p)
    const served: string[] = []
    for (let i = 0; i < 5; i++) {
      const d = decide(p, state, req, [], T0 + i, Math.random)
      served.push(dispatched(d).deploymentId)
      record(p, state, outcome(d, 'success', { usage: { inputTokens: 100, outputTokens: 100 } }), T0 + i)
    }
    expect(served).toEqual(['a', 'a', 'a', 'a', 'a']) // 5 × 200 = 1000: the fifth is admitted at 800 used
    const sixth = dispatched(decide(p, state, req, [], T0 + 10, Math.random))
    expect(sixth.deploymentId).toBe('b') // a is out for the day; its fallback serves
    const only = pool([deployment('a', { ...NOVA, tokensPerDay: 1000 })])
    const refused = decide(only, state, req, [], T0 + 11, Math.random)
    expect(refused).toMatchObject({ kind: 'reject', status: 429, errorType: 'ThrottlingException' })
    if (refused.kind === 'reject') {
      expect(refused.reason).toMatch(/a: its 1000 tokens per day are used \(1000\), until /)
      const midnight = Math.floor((T0 + 11) / 86_400_000 + 1) * 86_400_000
      expect(refused.retryAfterMs).toBe(midnight - (T0 + 11))
    }
    // The next UTC day starts afresh.
    const tomorrow = Math.floor(T0 / 86_400_000 + 1) * 86_400_000 + 1
    expect(dispatched(decide(only, state, req, [], tomorrow, Math.random)).deploymentId).toBe('a')
  })

  it('settles a hold to the real usage; a throttled attempt uses nothing; the snapshot shows the day', () => {
    const p = pool([deployment('a', { ...NOVA, tokensPerDay: 10_000 })])
    const state = createPoolState(p)
    const d1 = decide(p, state, req, [], T0, Math.random)
    const d2 = decide(p, state, req, [], T0, Math.random)
    expect(snapshot(p, state, T0)[0].tokensToday).toEqual({ perDay: 10_000, used: 0, held: 400 })
    record(p, state, outcome(d1, 'success', { usage: { inputTokens: 90, outputTokens: 10 } }), T0 + 5)
    record(p, state, outcome(d2, 'throttled'), T0 + 5)
    expect(snapshot(p, state, T0 + 6)[0].tokensToday).toEqual({ perDay: 10_000, used: 100, held: 0 })
  })
})
