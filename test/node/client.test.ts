/**
 * `createRouter` (bedrock-edge-router/client) in this process against the simulator: the AWS SDK's Converse shapes in
 * and out, failover on throttling, fail-fast on validation, the breaker, streams (and a cut stream's error), every
 * strategy, credentials from a provider, CountTokens, health, stats and hooks.
 */
import type { ConverseCommandInput } from '@aws-sdk/client-bedrock-runtime'
import { describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { createRouter, RouterError, type FailoverEvent, type RequestEvent } from '../../src/client'
import { simulatorForFile } from './harness'

const NOVA = 'us.amazon.nova-lite-v1:0'
const IPR = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1'
const KEYS = { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY }
const sim = simulatorForFile()
const control = sim.control
const twoRegions = (extra: Record<string, unknown> = {}) =>
  createRouter({
    deployments: [
      { modelId: NOVA, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'], weight: 1, isFallback: false },
      { modelId: NOVA, region: 'us-west-2', endpoint: sim.endpoints['us-west-2'], weight: 1, isFallback: true },
    ],
    credentials: KEYS,
    env: {},
    ...extra,
  })
const input: ConverseCommandInput = { modelId: undefined, messages: [{ role: 'user', content: [{ text: 'Hello' }] }], inferenceConfig: { maxTokens: 50 } }

describe('createRouter: Converse in the AWS SDK’s shapes', () => {
  it('answers with the SDK’s output shape, $metadata, and who served it', async () => {
    const router = twoRegions()
    const out = await router.converse(input)
    expect(out.output.message.content[0].text).toMatch(/^Hello from us-east-1/)
    expect(out.stopReason).toBe('end_turn')
    expect(out.usage.outputTokens).toBeGreaterThan(0)
    expect(out.$metadata).toMatchObject({ httpStatusCode: 200, attempts: 1 })
    expect(out.$router).toMatchObject({ pool: 'default', deployment: 'us.amazon.nova-lite-v1:0-us-east-1', region: 'us-east-1', attempts: 1 })
    expect(out.$router.costUsd).toBeGreaterThan(0)
    // The model ID itself addresses its pool, as code that hard-codes one expects.
    expect((await router.converse({ ...input, modelId: NOVA })).$router.pool).toBe('default')
  })

  it('fails over when a region throttles, and says so (hooks, trace, stats)', async () => {
    const router = twoRegions()
    const failovers: FailoverEvent[] = []
    const requests: RequestEvent[] = []
    router.on('failover', (f) => failovers.push(f))
    router.on('request', (r) => requests.push(r))
    await control('/__sim/rules', { region: 'us-east-1', fault: 'throttle', times: 1 })
    const out = await router.converse(input)
    expect(out.output.message.content[0].text).toMatch(/^Hello from us-west-2/)
    expect(out.$router.failovers).toBe('us.amazon.nova-lite-v1:0-us-east-1=throttled:ThrottlingException')
    expect(failovers).toEqual([expect.objectContaining({ from: 'us.amazon.nova-lite-v1:0-us-east-1', class: 'throttled', servedBy: 'us.amazon.nova-lite-v1:0-us-west-2' })])
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({ outcome: 'success', deployment: 'us.amazon.nova-lite-v1:0-us-west-2', reason: expect.stringContaining('fallback') })
    const stats = await router.getStats()
    expect(stats).toMatchObject({ requests: 1, successes: 1, failovers: 1, throttles: { upstream: 1, router: 0 } })
    expect(stats.costUsd).toBeCloseTo(out.$router.costUsd!, 6)
    expect(stats.byDeployment.map((g) => g.keys.deployment).sort()).toEqual(['us.amazon.nova-lite-v1:0-us-east-1', 'us.amazon.nova-lite-v1:0-us-west-2'])
  })

  it('a validation error fails fast with the SDK’s error name, never failing over', async () => {
    const router = twoRegions()
    await control('/__sim/rules', { region: 'us-east-1', fault: 'error', status: 400, errorType: 'ValidationException', message: 'bad field', times: 1 })
    const err = await router.converse(input).catch((e) => e)
    expect(err).toBeInstanceOf(RouterError)
    expect(err).toMatchObject({ name: 'ValidationException', message: 'bad field', $fault: 'client', $metadata: { httpStatusCode: 400 } })
    expect((await control('/__sim/requests')).requests).toHaveLength(1)
    expect((await router.getStats()).failFast).toBe(1)
  })

  it('when every deployment throttles: a ThrottlingException naming each attempt, with retryAfterMs', async () => {
    const router = twoRegions()
    await control('/__sim/rules', { fault: 'throttle', times: 2 })
    const err = await router.converse(input).catch((e) => e)
    expect(err.name).toBe('ThrottlingException')
    expect(err.message).toMatch(/us-east-1=throttled.*us-west-2=throttled/)
    expect(err.retryAfterMs).toBeGreaterThan(0)
  })

  it('the breaker ejects a failing deployment: health says so, traffic goes elsewhere', async () => {
    const router = twoRegions({ pool: { breaker: { consecutiveFailures: 2, cooldownMs: 60_000 } } })
    await control('/__sim/rules', { region: 'us-east-1', fault: 'error', status: 503, errorType: 'ServiceUnavailableException' })
    for (let i = 0; i < 3; i++) expect((await router.converse(input)).$router.region).toBe('us-west-2')
    const health = await router.getHealthStatus()
    const use1 = health.deployments.find((d) => d.region === 'us-east-1')!
    expect(use1).toMatchObject({ circuitState: 'open', isHealthy: false })
    expect(health.isHealthy).toBe(true) // the pool still serves
    expect(await router.getSimpleHealthCheck()).toEqual({ status: 'healthy', code: 200 })
    const requests = (await control('/__sim/requests')).requests as { region: string }[]
    expect(requests.filter((r) => r.region === 'us-east-1')).toHaveLength(2) // ejected after two: the third went straight to us-west-2
  })
})

describe('createRouter: streams', () => {
  it('ConverseStream as the SDK’s event objects, usage in the metadata event', async () => {
    const router = twoRegions()
    const out = await router.converseStream(input)
    expect(out.$router.region).toBe('us-east-1')
    const events = []
    for await (const e of out.stream) events.push(e)
    expect(Object.keys(events[0])).toEqual(['messageStart'])
    const text = events.map((e) => e.contentBlockDelta?.delta?.text ?? '').join('')
    expect(text).toMatch(/^Hello from us-east-1/)
    const metadata = events.at(-1)!.metadata
    expect(metadata.usage.outputTokens).toBeGreaterThan(0)
    expect(JSON.stringify(events)).not.toContain('"p":') // the wire's padding is not an SDK field
  })

  it('before its first content a stream fails over; after it, the cut is a thrown error, never a silent end', async () => {
    const router = twoRegions()
    await control('/__sim/rules', { region: 'us-east-1', fault: 'throttle', times: 1 })
    const failedOver = await router.converseStream(input)
    expect(failedOver.$router.region).toBe('us-west-2')
    for await (const _ of failedOver.stream) void _
    await control('/__sim/rules', { fault: 'cut', afterFrames: 3, times: 1 }) // wherever it goes (us-east-1 is paced after its throttle)
    const cut = await router.converseStream(input)
    const seen: unknown[] = []
    const err = await (async () => {
      for await (const e of cut.stream) seen.push(e)
    })().catch((e) => e)
    expect(seen.length).toBeGreaterThan(0)
    expect(err).toBeInstanceOf(RouterError)
    expect(err.message).toMatch(/stream|connection|upstream/i)
  })
})

describe('createRouter: configuration, strategies, credentials', () => {
  it('every strategy routes (weighted, rate-limit-aware, cost, latency, bedrock-ipr)', async () => {
    for (const strategy of ['weighted', 'rate-limit-aware', 'cost', 'latency']) {
      const out = await twoRegions({ strategy }).converse(input)
      expect(out.output.message.content[0].text, strategy).toMatch(/^Hello from/)
    }
    const ipr = createRouter({ deployments: [{ modelId: IPR, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] }], strategy: 'bedrock-ipr', credentials: KEYS, env: {} })
    const out = await ipr.converse(input)
    expect(out.$router.invokedModel).toMatch(/anthropic\.claude/)
  })

  it('the worker’s own config document, several pools; modelId required then', async () => {
    const router = createRouter({
      config: {
        pools: {
          a: { deployments: [{ id: 'a1', modelId: NOVA, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] }] },
          b: { deployments: [{ id: 'b1', modelId: 'us.amazon.nova-micro-v1:0', region: 'eu-west-1', endpoint: sim.endpoints['eu-west-1'] }] },
        },
      },
      credentials: KEYS,
      env: {},
    })
    expect((await router.converse({ ...input, modelId: 'b' })).$router.deployment).toBe('b1')
    expect((await router.converse(input).catch((e) => e)).message).toMatch(/modelId is required.*a, b/)
    expect(() => createRouter({ deployments: [{ modelId: NOVA, region: 'nowhere' }] })).toThrow(/region must look like us-east-1/)
  })

  it('credentials from an async provider (as @aws-sdk/credential-providers give them), refreshed before they expire', async () => {
    let calls = 0
    const provider = async () => (calls++, { ...KEYS, sessionToken: undefined, expiration: new Date(Date.now() + 30_000) })
    const router = twoRegions({ credentials: provider })
    await router.converse(input)
    await router.converse(input)
    expect(calls).toBe(2) // expiring within the minute: asked again
    const wrong = twoRegions({ credentials: async () => ({ accessKeyId: 'AKIDWRONG000000000001', secretAccessKey: 'nope' }) })
    const err = await wrong.converse(input).catch((e) => e)
    expect(err.name).not.toBe('ThrottlingException')
    expect(err.message).not.toContain('nope')
  })

  it('CountTokens (Claude: Bedrock counts tokens for Claude models only), and destroy()', async () => {
    const router = createRouter({ deployments: [{ modelId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', region: 'us-west-2', endpoint: sim.endpoints['us-west-2'] }], credentials: KEYS, env: {} })
    const counted = await router.countTokens({ input: { converse: { messages: input.messages } } })
    expect(counted.inputTokens).toBeGreaterThan(0)
    router.destroy()
    await expect(router.converse(input)).rejects.toThrow(/destroyed/)
  })

  it('any front door in process: the OpenAI chat API through fetch', async () => {
    const router = twoRegions()
    const res = await router.fetch(new Request('http://x/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'Hello' }] }) }))
    expect(res.status).toBe(200)
    expect(((await res.json()) as any).choices[0].message.content).toMatch(/^Hello from us-east-1/)
  })
})

describe('createRouter: what the multiplexer offers besides', () => {
  it('addModel / removeModel at run time, resetStats, isHealthy, getModelHealthStatus, getCircuitBreakerStatus', async () => {
    const router = createRouter({ deployments: [{ modelId: NOVA, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] }], credentials: KEYS, env: {} })
    expect((await router.converse(input)).$router.region).toBe('us-east-1')
    const id = router.addModel({ modelId: NOVA, region: 'eu-west-1', endpoint: sim.endpoints['eu-west-1'], weight: 1000 })
    expect(id).toBe('us.amazon.nova-lite-v1:0-eu-west-1')
    const regions = new Set<string>()
    for (let i = 0; i < 8; i++) regions.add((await router.converse(input)).$router.region!)
    expect(regions.has('eu-west-1')).toBe(true)
    expect(() => router.addModel({ modelId: NOVA, region: 'eu-west-1' })).toThrow(/duplicate/) // validated before it applies
    expect(router.removeModel('us.amazon.nova-lite-v1:0-us-east-1')).toBe(true)
    for (let i = 0; i < 4; i++) expect((await router.converse(input)).$router.region).toBe('eu-west-1')
    expect(router.removeModel('nope')).toBe(false)
    expect((await router.getStats()).requests).toBe(13)
    await router.resetStats()
    expect((await router.getStats()).requests).toBe(0)
    expect(await router.isHealthy()).toBe(true)
    expect(await router.getModelHealthStatus(id)).toMatchObject({ id, region: 'eu-west-1', circuitState: 'closed', isHealthy: true })
    expect(await router.getCircuitBreakerStatus()).toEqual({ [id]: { state: 'closed', failureCount: 0 } })
  })
})

describe('createRouter: a custom strategy as a function in process', () => {
  it('its ranking decides; a late or throwing function falls back', async () => {
    const seen: unknown[] = []
    const router = createRouter({
      config: {
        pools: {
          p: {
            strategy: 'custom',
            custom: { function: 'westFirst', timeoutMs: 50 },
            deployments: [
              { id: 'f-use1', modelId: NOVA, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] },
              { id: 'f-usw2', modelId: NOVA, region: 'us-west-2', endpoint: sim.endpoints['us-west-2'] },
            ],
          },
          late: { strategy: 'custom', custom: { function: 'late', timeoutMs: 20, fallback: 'weighted' }, deployments: [{ id: 'l-use1', modelId: NOVA, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] }] },
        },
      },
      strategies: {
        westFirst: (input) => (seen.push(input), { ranking: input.candidates.filter((c) => c.region === 'us-west-2').map((c) => c.id) }),
        late: () => new Promise((resolve) => setTimeout(() => resolve({ deployment: 'l-use1' }), 200)),
      },
      credentials: KEYS,
      env: {},
    })
    const out = await router.converse({ ...input, modelId: 'p' })
    expect(out.$router.deployment).toBe('f-usw2')
    expect(seen).toHaveLength(1)
    const late = await router.fetch(new Request('http://x/model/late/converse', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: input.messages }) }))
    expect(late.status).toBe(200)
    expect(late.headers.get('x-router-custom')).toBe('function timed out after 20 ms; fell back to weighted')
  })
})
