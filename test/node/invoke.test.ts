/**
 * Bedrock's other operations and the Anthropic Messages API through the router, with the real clients: the AWS SDK's
 * InvokeModel, InvokeModelWithResponseStream, CountTokens and ApplyGuardrail commands, `@anthropic-ai/bedrock-sdk`
 * (AnthropicBedrock, InvokeModel underneath) and `@anthropic-ai/sdk` (Messages API) — with one region throttling.
 */
import Anthropic from '@anthropic-ai/sdk'
import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk'
import {
  ApplyGuardrailCommand,
  BedrockRuntimeClient,
  CountTokensCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { modelFacts } from '../../src/routing/models'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-6'
const NOVA = 'us.amazon.nova-pro-v1:0'
let h: Harness

beforeAll(async () => {
  h = await startHarness((e) => ({
    guardrails: { 'grdemo1': { region: 'eu-west-1', endpoint: e['eu-west-1'] } },
    pools: {
      sonnet: {
        strategy: 'rate-limit-aware',
        deployments: [
          { id: 'nova-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'], tpm: 10_000_000 },
          { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'], tpm: 10_000_000 },
          { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], tpm: 10_000_000 },
        ],
      },
      nova: {
        deployments: [
          { id: 'nova-only-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: 'nova-only-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] },
        ],
      },
      // Used by one test only, so its window sees nothing else.
      metered: { strategy: 'rate-limit-aware', deployments: [{ id: 'metered-euw1', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'], tpm: 10_000_000 }] },
    },
  }))
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

const aws = () =>
  new BedrockRuntimeClient({ region: 'us-east-1', endpoint: h.router.url, token: { token: CLIENT_KEY }, authSchemePreference: ['httpBearerAuth'], requestHandler: new NodeHttpHandler(), maxAttempts: 1 })
const claudeBody = (extra: Record<string, unknown> = {}) => ({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 200, messages: [{ role: 'user', content: 'Hello there' }], ...extra })
const decoder = new TextDecoder()
const requests = async (operation?: string) => (await h.control(`/__sim/requests${operation ? `?operation=${operation}` : ''}`)).requests as any[]
const bodyOf = (r: any) => (typeof r.body === 'string' ? JSON.parse(r.body) : r.body)

describe('AWS SDK: InvokeModel and its stream', () => {
  it('InvokeModel: the model’s own answer, Bedrock’s usage headers, only Claude deployments', async () => {
    // The two Claude deployments tie on headroom, so each request goes to either at random: 24 requests all to one
    // has a chance of 2⁻²³ (8, as this test once sent, failed about one run in 130).
    const N = 24
    const regions = new Set<string>()
    for (let i = 0; i < N; i++) {
      const out = await aws().send(new InvokeModelCommand({ modelId: SONNET, contentType: 'application/json', accept: 'application/json', body: JSON.stringify(claudeBody()) }))
      const answer = JSON.parse(decoder.decode(out.body))
      expect(answer.type).toBe('message')
      expect(answer.content[0].text).toMatch(/^Hello from us-(east-1|west-2)/)
      regions.add(answer.content[0].text.split(' ')[2])
    }
    expect([...regions].sort()).toEqual(['us-east-1', 'us-west-2'])
    const sent = await requests('invoke')
    expect(sent.length).toBe(N)
    expect(sent.every((r) => r.modelId === SONNET)).toBe(true) // never the Nova deployment
  })

  it('InvokeModel’s request headers reach Bedrock (trace, performance config, service tier), and its echo comes back', async () => {
    const out = await aws().send(new InvokeModelCommand({ modelId: SONNET, body: JSON.stringify(claudeBody()), trace: 'ENABLED', performanceConfigLatency: 'optimized', serviceTier: 'priority' }))
    expect(out.performanceConfigLatency).toBe('optimized')
    const sent = (await requests('invoke')).at(-1)
    expect(sent.headers['x-amzn-bedrock-trace']).toBe('ENABLED')
    expect(sent.headers['x-amzn-bedrock-performanceconfig-latency']).toBe('optimized')
    expect(sent.headers['x-amzn-bedrock-service-tier']).toBe('priority')
  })

  it('one region throttling: InvokeModel and its stream fail over, the client sees nothing', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    for (let i = 0; i < 3; i++) {
      const out = await aws().send(new InvokeModelCommand({ modelId: 'sonnet', body: JSON.stringify(claudeBody()) }))
      expect(JSON.parse(decoder.decode(out.body)).content[0].text).toMatch(/^Hello from us-west-2/)
      const stream = await aws().send(new InvokeModelWithResponseStreamCommand({ modelId: 'sonnet', body: JSON.stringify(claudeBody()) }))
      let text = ''
      for await (const event of stream.body!) {
        const e = JSON.parse(decoder.decode(event.chunk!.bytes))
        if (e.type === 'content_block_delta') text += e.delta.text ?? ''
      }
      expect(text).toMatch(/^Hello from us-west-2/)
    }
  })

  it('the stream: every Anthropic event in order; its usage lands in the window', async () => {
    const windowTokens = async () => {
      const health: any = await (await fetch(`${h.router.url}/health`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()
      return health.pools.metered.state[0].window.tokens
    }
    const before = await windowTokens()
    const stream = await aws().send(new InvokeModelWithResponseStreamCommand({ modelId: 'metered', body: JSON.stringify(claudeBody()) }))
    const types: string[] = []
    let metrics: any
    for await (const event of stream.body!) {
      const e = JSON.parse(decoder.decode(event.chunk!.bytes))
      types.push(e.type)
      if (e['amazon-bedrock-invocationMetrics']) metrics = e['amazon-bedrock-invocationMetrics']
    }
    expect(types[0]).toBe('message_start')
    expect(types[types.length - 1]).toBe('message_stop')
    expect(metrics.outputTokenCount).toBeGreaterThan(0)
    // The reservation (input estimate + max_tokens 200) settles to what Bedrock counted, output tokens at the
    // model's quota burndown (5 for Claude 4.x); reports are batched, so poll briefly.
    const expected = metrics.inputTokenCount + metrics.outputTokenCount * (modelFacts(SONNET)?.burndown ?? 1)
    let after = before
    for (let i = 0; i < 20 && after - before !== expected; i++) {
      await new Promise((r) => setTimeout(r, 100))
      after = await windowTokens()
    }
    expect(after - before).toBe(expected)
  })

  it('a stream cut after its first content ends with an error the SDK raises, never a clean end', async () => {
    await h.control('/__sim/rules', { fault: 'cut', afterFrames: 3, operation: 'invoke-stream' })
    const stream = await aws().send(new InvokeModelWithResponseStreamCommand({ modelId: SONNET, body: JSON.stringify(claudeBody()) }))
    let events = 0
    const err = await (async () => {
      for await (const _ of stream.body!) events++
    })().catch((e) => e)
    expect(events).toBeGreaterThan(0)
    expect(err).toBeInstanceOf(Error)
  })

  it('a Claude body addressed to a pool whose Claude deployments are all out is refused naming why, never sent to Nova', async () => {
    await h.control('/__sim/rules', { modelId: SONNET, fault: 'error', status: 503, errorType: 'ServiceUnavailableException' })
    const err = await aws().send(new InvokeModelCommand({ modelId: SONNET, body: JSON.stringify(claudeBody()) })).catch((e) => e)
    expect(err.$metadata.httpStatusCode).toBe(503)
    expect((await requests('invoke')).every((r) => r.modelId === SONNET)).toBe(true)
  })

  it('SSE for browsers: the model’s own events', async () => {
    const res = await fetch(`${h.router.url}/model/sonnet/invoke-with-response-stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify(claudeBody()),
    })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const text = await res.text()
    expect(text).toMatch(/^event: message_start\ndata: \{"type":"message_start"/)
    expect(text).toContain('event: message_stop')
  })
})

describe('AWS SDK: CountTokens and ApplyGuardrail', () => {
  it('CountTokens, both input forms, never counted in the windows', async () => {
    const windowRequests = async () => {
      const health: any = await (await fetch(`${h.router.url}/health`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()
      return health.pools.sonnet.state.map((d: any) => d.window.requests)
    }
    // The earlier tests' last attempts settle after their answers (reports batched; with the default leases, a
    // renewal closing the slices they were sent under): the windows as they stand once nothing changes for 1 s.
    let before = await windowRequests()
    for (let i = 0, still = 0; i < 30 && still < 3; i++) {
      await new Promise((r) => setTimeout(r, 300))
      const now = await windowRequests()
      still = JSON.stringify(now) === JSON.stringify(before) ? still + 1 : 0
      before = now
    }
    const converse = await aws()
      .send(new CountTokensCommand({ modelId: SONNET, input: { converse: { messages: [{ role: 'user', content: [{ text: 'Hello there, count me' }] }] } } }))
      .catch((e) => {
        throw new Error(`CountTokens failed: ${e.name} ${e.message}`)
      })
    expect(converse.inputTokens).toBeGreaterThan(0)
    const invoke = await aws().send(new CountTokensCommand({ modelId: 'sonnet', input: { invokeModel: { body: new TextEncoder().encode(JSON.stringify(claudeBody())) } } }))
    expect(invoke.inputTokens).toBeGreaterThan(0)
    const sent = await requests('count-tokens')
    expect(sent.length).toBe(2)
    expect(sent.every((r) => r.modelId === SONNET)).toBe(true)
    expect(await windowRequests()).toEqual(before)
  })

  it('ApplyGuardrail goes to the configured region, signed; unknown guardrails are 404', async () => {
    const none = await aws().send(new ApplyGuardrailCommand({ guardrailIdentifier: 'grdemo1', guardrailVersion: 'DRAFT', source: 'INPUT', content: [{ text: { text: 'A friendly question' } }] }))
    expect(none.action).toBe('NONE')
    const blocked = await aws().send(new ApplyGuardrailCommand({ guardrailIdentifier: 'grdemo1', guardrailVersion: '1', source: 'INPUT', content: [{ text: { text: 'please BLOCKME now' } }] }))
    expect(blocked.action).toBe('GUARDRAIL_INTERVENED')
    const sent = await requests('apply-guardrail')
    expect(sent.map((r) => r.region)).toEqual(['eu-west-1', 'eu-west-1'])
    const unknown = await aws().send(new ApplyGuardrailCommand({ guardrailIdentifier: 'grother2', guardrailVersion: '1', source: 'INPUT', content: [{ text: { text: 'x' } }] })).catch((e) => e)
    expect(unknown.name).toBe('ResourceNotFoundException')
  })
})

describe('@anthropic-ai/bedrock-sdk (AnthropicBedrock) pointed at the router', () => {
  const client = () => new AnthropicBedrock({ baseURL: h.router.url, awsRegion: 'us-east-1', apiKey: CLIENT_KEY, maxRetries: 0 })

  it('messages.create, plain and streamed, with one region throttling', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    const msg = await client().messages.create({ model: SONNET, max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] })
    expect(msg.content[0].type === 'text' && msg.content[0].text).toMatch(/^Hello from us-west-2/)
    const stream = client().messages.stream({ model: 'sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] })
    const final = await stream.finalMessage()
    expect(final.content[0].type === 'text' && final.content[0].text).toMatch(/^Hello from us-west-2/)
    expect(final.usage.output_tokens).toBeGreaterThan(0)
  })
})

describe('@anthropic-ai/sdk against the Messages API front door', () => {
  const client = (apiKey = CLIENT_KEY) => new Anthropic({ baseURL: h.router.url, apiKey, maxRetries: 0 })
  const weather = { name: 'get_weather', description: 'Weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }

  it('plain: the Messages response; prompt-caching fields reach Bedrock unchanged', async () => {
    const system = [{ type: 'text' as const, text: 'You are terse. '.repeat(20), cache_control: { type: 'ephemeral' as const } }]
    const msg = await client().messages.create({ model: 'sonnet', max_tokens: 100, system, messages: [{ role: 'user', content: 'Hello there' }], metadata: { user_id: 'u-1' } })
    expect(msg.type).toBe('message')
    expect(msg.content[0].type === 'text' && msg.content[0].text).toMatch(/^Hello from/)
    const again = await client().messages.create({ model: 'sonnet', max_tokens: 100, system, messages: [{ role: 'user', content: 'Hello there' }] })
    expect(again.usage.input_tokens).toBeGreaterThan(0)
    const sent = bodyOf((await requests('invoke')).at(-1))
    expect(sent.system).toEqual(system)
    expect(sent.anthropic_version).toBe('bedrock-2023-05-31')
    expect(sent.model).toBeUndefined()
    expect(sent.metadata).toBeUndefined()
  })

  it('streamed, with one region throttling underneath', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    const stream = client().messages.stream({ model: 'sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] })
    let text = ''
    stream.on('text', (t) => (text += t))
    const final = await stream.finalMessage()
    expect(text).toMatch(/^Hello from us-west-2/)
    expect(final.stop_reason).toBe('end_turn')
  })

  it('a tool-use round trip', async () => {
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
    const first = await client().messages.create({ model: 'sonnet', max_tokens: 200, tools: [weather], messages })
    expect(first.stop_reason).toBe('tool_use')
    const use = first.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock
    expect(use.name).toBe('get_weather')
    messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny' }] })
    const second = await client().messages.create({ model: 'sonnet', max_tokens: 200, tools: [weather], messages })
    expect(second.stop_reason).toBe('end_turn')
    expect(second.content[0].type === 'text' && second.content[0].text).toMatch(/^Hello from/)
  })

  it('count_tokens, and errors as the SDK’s typed errors', async () => {
    const count = await client().messages.countTokens({ model: 'sonnet', messages: [{ role: 'user', content: 'Count me, please' }] })
    expect(count.input_tokens).toBeGreaterThan(0)
    await expect(client('wrong').messages.create({ model: 'sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.AuthenticationError)
    await expect(client().messages.create({ model: 'nope', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Anthropic.NotFoundError)
    await h.control('/__sim/rules', { fault: 'throttle' })
    const limited = await client().messages.create({ model: 'sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError)
    expect(limited.headers.get('retry-after')).toBeTruthy()
  })

  it('a stream cut after its first content raises in the SDK, never a clean end', async () => {
    await h.control('/__sim/rules', { fault: 'cut', afterFrames: 3, operation: 'invoke-stream' })
    const stream = client().messages.stream({ model: 'sonnet', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] })
    const err = await stream.finalMessage().catch((e) => e)
    expect(err).toBeInstanceOf(Error)
  })
})

describe('@anthropic-ai/sdk on a pool without Claude: through Converse and back', () => {
  const client = () => new Anthropic({ baseURL: h.router.url, apiKey: CLIENT_KEY, maxRetries: 0 })

  it('plain and streamed, with one region throttling; Converse reaches Bedrock', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    const msg = await client().messages.create({ model: 'nova', max_tokens: 100, system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] })
    expect(msg.content[0].type === 'text' && msg.content[0].text).toMatch(/^Hello from us-west-2 \(model us\.amazon\.nova/)
    expect(msg.model).toBe(NOVA)
    expect(msg.usage.output_tokens).toBeGreaterThan(0)
    const stream = client().messages.stream({ model: 'nova', max_tokens: 100, messages: [{ role: 'user', content: 'Hello there' }] })
    const final = await stream.finalMessage()
    expect(final.content[0].type === 'text' && final.content[0].text).toMatch(/^Hello from us-west-2/)
    expect(final.usage.output_tokens).toBeGreaterThan(0)
    expect((await requests('converse')).length + (await requests('converse-stream')).length).toBeGreaterThanOrEqual(2)
    expect(await requests('invoke')).toHaveLength(0)
  })

  it('a tool-use round trip, streamed', async () => {
    const weather = { name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Weather in Paris?' }]
    const first = await client().messages.stream({ model: 'nova', max_tokens: 200, tools: [weather], messages }).finalMessage()
    expect(first.stop_reason).toBe('tool_use')
    const use = first.content.find((b) => b.type === 'tool_use') as Anthropic.ToolUseBlock
    expect(use.input).toHaveProperty('city')
    messages.push({ role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny' }] })
    const second = await client().messages.create({ model: 'nova', max_tokens: 200, tools: [weather], messages })
    expect(second.stop_reason).toBe('end_turn')
    const sent = bodyOf((await requests('converse')).at(-1))
    expect(sent.messages[2].content[0].toolResult.toolUseId).toBe(use.id)
  })
})

