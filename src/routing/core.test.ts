import { describe, expect, it } from 'vitest'
import { createPoolState, decide, prunePoolState, record, snapshot } from './core'
import { MISCONFIGURED_PROBE_MS } from './record'
import { mulberry32 } from './random'
import { T0, deployment, dispatched, outcome, pool } from './test-helpers'
import { windowTotals } from './window'

const req = { inputTokens: 100, maxTokens: 100, stream: false }

describe('engine', () => {
  it('keeps its state as plain JSON: a persisted copy decides exactly like the original', () => {
    const p = pool([deployment('a', { rpm: 5 }), deployment('b', { rpm: 5 })], { strategy: 'rate-limit-aware', maxQueueMs: 30_000 })
    const original = createPoolState(p)
    const rngA = mulberry32(7)
    for (let i = 0; i < 12; i++) {
      const d = decide(p, original, req, [], T0 + i * 100, rngA)
      if (d.kind === 'dispatch' && i % 3 === 0) record(p, original, outcome(d, i % 2 ? 'throttled' : 'success', { latencyMs: 200 }), T0 + i * 100)
    }
    const copy = JSON.parse(JSON.stringify(original))
    expect(copy).toEqual(original)
    const rng1 = mulberry32(99)
    const rng2 = mulberry32(99)
    for (let i = 0; i < 10; i++) {
      expect(decide(p, copy, req, [], T0 + 5000 + i, rng1)).toEqual(decide(p, original, req, [], T0 + 5000 + i, rng2))
    }
  })

  it('decide reserves the quota before returning (requests +1, tokens reserved)', () => {
    const p = pool([deployment('a')], { strategy: 'weighted' })
    const state = createPoolState(p)
    dispatched(decide(p, state, req, [], T0, Math.random))
    expect(windowTotals(state.deployments.a.usage, T0)).toMatchObject({ requests: 1, tokens: 200 })
  })

  it('tolerates deployments added to and removed from the config', () => {
    const p1 = pool([deployment('a'), deployment('b')])
    const state = createPoolState(p1)
    const d = decide(p1, state, req, ['b'], T0, Math.random)
    const p2 = pool([deployment('b'), deployment('c')])
    expect(() => record(p2, state, outcome(d, 'success'), T0 + 1)).not.toThrow() // a is gone: ignored
    expect(dispatched(decide(p2, state, req, ['b'], T0 + 2, Math.random)).deploymentId).toBe('c') // c created
    expect(state.deployments.c).toBeDefined()
    expect(snapshot(p2, state, T0 + 3).map((s) => s.id)).toEqual(['b', 'c'])
    prunePoolState(p2, state)
    expect(Object.keys(state.deployments).sort()).toEqual(['b', 'c'])
    expect(snapshot(pool([deployment('z')]), state, T0)[0]).toMatchObject({ id: 'z', usable: true })
  })

  it('takes a misconfigured deployment out until a probe succeeds, probing one request at a time', () => {
    const p = pool([deployment('a'), deployment('b', { fallback: true })])
    const state = createPoolState(p)
    record(p, state, outcome(decide(p, state, req, [], T0, Math.random), 'misconfigured'), T0)
    expect(dispatched(decide(p, state, req, [], T0 + MISCONFIGURED_PROBE_MS - 1, Math.random)).deploymentId).toBe('b')
    expect(snapshot(p, state, T0 + 1)[0]).toMatchObject({ usable: false, reason: 'misconfigured', misconfigured: { nextProbeAt: T0 + MISCONFIGURED_PROBE_MS } })
    // the probe: one request, the others keep going to b while it is out
    const probe = decide(p, state, req, [], T0 + MISCONFIGURED_PROBE_MS, Math.random)
    expect(dispatched(probe)).toMatchObject({ deploymentId: 'a', reservation: { probe: true } })
    expect(dispatched(decide(p, state, req, [], T0 + MISCONFIGURED_PROBE_MS + 1, Math.random)).deploymentId).toBe('b')
    // a failed probe doubles the interval
    record(p, state, outcome(probe, 'misconfigured'), T0 + MISCONFIGURED_PROBE_MS + 5)
    expect(state.deployments.a.misconfigured).toMatchObject({ strikes: 1, probeAt: T0 + MISCONFIGURED_PROBE_MS + 5 + 2 * MISCONFIGURED_PROBE_MS })
    const later = T0 + 4 * MISCONFIGURED_PROBE_MS
    const second = decide(p, state, req, [], later, Math.random)
    expect(dispatched(second).deploymentId).toBe('a')
    // the first success ends it at once
    record(p, state, outcome(second, 'success'), later + 5)
    expect(state.deployments.a.misconfigured).toBeNull()
    expect(dispatched(decide(p, state, req, [], later + 6, Math.random)).deploymentId).toBe('a')
  })

  it('a probe that is throttled proves the setup is fixed (Bedrock checks credentials and model first)', () => {
    const p = pool([deployment('a'), deployment('b', { fallback: true })])
    const state = createPoolState(p)
    record(p, state, outcome(decide(p, state, req, [], T0, Math.random), 'misconfigured'), T0)
    const probe = decide(p, state, req, [], T0 + MISCONFIGURED_PROBE_MS, Math.random)
    record(p, state, outcome(probe, 'throttled'), T0 + MISCONFIGURED_PROBE_MS + 1)
    expect(state.deployments.a.misconfigured).toBeNull()
  })

  it('refuses only for hard reasons, and says which deployment is out and why', () => {
    const p = pool([deployment('a'), deployment('b')])
    const state = createPoolState(p)
    const rng = mulberry32(1)
    record(p, state, { ...outcome(decide(p, state, req, ['b'], T0, rng), 'misconfigured'), result: { class: 'misconfigured', status: 403, errorType: 'AccessDeniedException' } }, T0)
    record(p, state, outcome(decide(p, state, req, ['a'], T0, rng), 'misconfigured'), T0)
    const refused = decide(p, state, req, [], T0 + 1, rng)
    expect(refused).toMatchObject({ kind: 'reject', status: 503, errorType: 'ServiceUnavailableException', retryAfterMs: MISCONFIGURED_PROBE_MS - 1 })
    expect(refused.kind === 'reject' && refused.reason).toMatch(/a: misconfigured \(AccessDeniedException\), next probe in 10\.0 s; b: misconfigured/)
    // throttles and failures are soft: with b tried, a throttled and failing a is still sent the request
    const q = pool([deployment('a'), deployment('b')])
    const s2 = createPoolState(q)
    record(q, s2, outcome(decide(q, s2, req, ['b'], T0, rng), 'throttled', { retryAfterMs: 3000 }), T0)
    record(q, s2, outcome(decide(q, s2, req, ['b'], T0, rng), 'unavailable'), T0)
    expect(dispatched(decide(q, s2, req, ['b'], T0 + 1, rng)).deploymentId).toBe('a')
    // every deployment tried: 503 naming them
    const all = decide(q, s2, req, ['a', 'b'], T0 + 1, rng)
    expect(all).toMatchObject({ kind: 'reject', status: 503 })
    expect(all.kind === 'reject' && all.reason).toMatch(/a: already tried; b: already tried/)
  })

  it('a deployment upstream asked to wait (Retry-After) is avoided while another can serve, and used when none can', () => {
    const p = pool([deployment('a'), deployment('b')])
    const state = createPoolState(p)
    record(p, state, outcome(decide(p, state, req, ['b'], T0, Math.random), 'throttled', { retryAfterMs: 5000 }), T0)
    for (let i = 0; i < 20; i++) expect(dispatched(decide(p, state, req, [], T0 + 10 + i, mulberry32(i))).deploymentId).toBe('b')
    expect(dispatched(decide(p, state, req, ['b'], T0 + 100, Math.random)).deploymentId).toBe('a')
    expect(snapshot(p, state, T0 + 100)[0]).toMatchObject({ usable: true, preferred: false, softReasons: expect.arrayContaining(['retry-after']) })
  })

  it('snapshot is read-only and reports usage, limits, breaker, pacing and latency', () => {
    const p = pool([deployment('a', { rpm: 10, tpm: 10_000 })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    const d = decide(p, state, req, [], T0, Math.random)
    record(p, state, outcome(d, 'success', { latencyMs: 250, usage: { inputTokens: 80, outputTokens: 20 } }), T0 + 250)
    const before = JSON.stringify(state)
    const [view] = snapshot(p, state, T0 + 300)
    expect(JSON.stringify(state)).toBe(before)
    expect(view).toEqual({
      id: 'a',
      modelId: p.deployments[0].modelId,
      region: 'us-east-1',
      fallback: false,
      usable: true,
      reason: null,
      preferred: true,
      softReasons: [],
      breaker: 'closed',
      breakerOpenUntil: null,
      probesInFlight: 0,
      consecutiveFailures: 0,
      ejections: 0,
      recentSuccesses: 1,
      recentFailures: 0,
      window: { requests: 1, tokens: 80 + 20 * 5, queuedRequests: 0, queuedTokens: 0 },
      limits: { configuredRpm: 10, configuredTpm: 10_000 },
      pacing: { rateRps: null, sentRps: expect.any(Number), nextTokenAt: null },
      misconfigured: null,
      avoidUntil: null,
      latencyMs: { converse: 250, stream: null },
    })
  })

  it('snapshot reads state persisted by an earlier version without changing it', () => {
    const p = pool([deployment('a', { rpm: 10 })], { strategy: 'rate-limit-aware' })
    const legacy = {
      version: 1,
      deployments: {
        a: {
          usage: [{ sec: T0 / 1000, requests: 2, tokens: 20 }],
          breaker: { phase: 'closed', openUntil: 0, probes: [], halfOpenSuccesses: 0, outcomes: [], opened: 0 },
          cooldown: null,
          consecutiveThrottles: 0,
          learned: null,
          latency: { converse: { ewmaMs: null, at: 0, samples: 0, pendingSince: null }, stream: { ewmaMs: null, at: 0, samples: 0, pendingSince: null } },
        },
      },
    } as unknown as Parameters<typeof snapshot>[1]
    const before = JSON.stringify(legacy)
    expect(snapshot(p, legacy, T0 + 500)[0]).toMatchObject({ usable: true, window: { requests: 2 }, pacing: { rateRps: null }, consecutiveFailures: 0 })
    expect(JSON.stringify(legacy)).toBe(before)
  })

  it('an empty pool rejects with 503', () => {
    const p = pool([])
    expect(decide(p, createPoolState(p), req, [], T0, Math.random)).toMatchObject({ kind: 'reject', status: 503 })
  })
})

describe('engine robustness', () => {
  it('garbage numbers from a caller never poison the state', () => {
    const p = pool([deployment('a', { rpm: 10, tpm: 10_000 })], { strategy: 'rate-limit-aware' })
    const state = createPoolState(p)
    const d = decide(p, state, { inputTokens: Number.NaN, maxTokens: Number.POSITIVE_INFINITY, stream: false }, [], T0, Math.random)
    record(p, state, outcome(d, 'success', { latencyMs: Number.NaN, usage: { inputTokens: Number.NaN, outputTokens: -5 } }), T0 + 1)
    const numbers: number[] = []
    JSON.stringify(state, (_key, value) => (typeof value === 'number' && numbers.push(value), value))
    expect(numbers.every(Number.isFinite)).toBe(true)
    expect(state.deployments.a.usage).toEqual([{ first: T0, last: T0, requests: 1, tokens: 0 }])
    expect(snapshot(p, state, T0 + 2)[0]).toMatchObject({ usable: true, latencyMs: { converse: null } })
  })
})

describe('native (InvokeModel) requests: only the addressed family', () => {
  const p = pool([deployment('claude-a'), deployment('nova', { modelId: 'amazon.nova-pro-v1:0', family: 'amazon' }), deployment('claude-b', { region: 'us-west-2' })])
  const rng = mulberry32(7)

  it('never dispatches a native body to a deployment of another family, and fails over within the family', () => {
    const state = createPoolState(p)
    const req = { inputTokens: 10, stream: false, family: 'anthropic' }
    const seen = new Set<string>()
    for (let i = 0; i < 50; i++) {
      const d = decide(p, state, req, [], T0 + i, rng)
      if (d.kind !== 'dispatch') throw new Error('expected dispatch')
      seen.add(d.deploymentId)
    }
    expect([...seen].sort()).toEqual(['claude-a', 'claude-b'])
    const second = decide(p, state, req, ['claude-a'], T0, rng)
    expect(second.kind === 'dispatch' && second.deploymentId).toBe('claude-b')
  })

  it('refuses with a reason naming the family when none of that family is left', () => {
    const d = decide(p, createPoolState(p), { inputTokens: 10, stream: false, family: 'anthropic' }, ['claude-a', 'claude-b'], T0, rng)
    expect(d.kind).toBe('reject')
    if (d.kind !== 'reject') return
    expect(d.status).toBe(503)
    expect(d.reason).toContain("nova: serves amazon models, and the request is in anthropic's native format")
  })

  it('Converse requests (no family) may go anywhere', () => {
    const d = decide(p, createPoolState(p), { inputTokens: 10, stream: false }, ['claude-a', 'claude-b'], T0, rng)
    expect(d.kind === 'dispatch' && d.deploymentId).toBe('nova')
  })
})
