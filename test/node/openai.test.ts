/**
 * The official `openai` npm client and the Vercel AI SDK's OpenAI-compatible provider, unchanged apart from
 * baseURL and key, against the router's OpenAI front door, which routes to simulated Bedrock deployments in two
 * regions — with one region throttling underneath.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai'
import OpenAI from 'openai'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-6'
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
let h: Harness

beforeAll(async () => {
  h = await startHarness((e) => ({
    pools: {
      sonnet: {
        strategy: 'weighted',
        deployments: [
          { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] },
        ],
      },
      tiny: { strategy: 'rate-limit-aware', deployments: [{ id: 'tiny-use1', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 1, endpoint: e['us-east-1'] }] },
    },
  }))
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

const openai = (apiKey = CLIENT_KEY) => new OpenAI({ baseURL: `${h.router.url}/v1`, apiKey, maxRetries: 0 })
const lastUpstreamBody = async () => {
  const { requests } = await h.control('/__sim/requests')
  const body = requests[requests.length - 1].body
  return typeof body === 'string' ? JSON.parse(body) : body
}
const weather = {
  type: 'function' as const,
  function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}

describe('openai client', () => {
  it('chat completion: text, usage, the serving model, finish_reason', async () => {
    const out = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }], max_tokens: 200 })
    expect(out.object).toBe('chat.completion')
    expect(out.id).toMatch(/^chatcmpl-/)
    expect(out.model).toBe(SONNET)
    expect(out.choices[0].message.content).toMatch(/^Hello from us-(east-1|west-2)/)
    expect(out.choices[0].finish_reason).toBe('stop')
    expect(out.usage!.prompt_tokens).toBeGreaterThan(0)
    expect(out.usage!.total_tokens).toBe(out.usage!.prompt_tokens + out.usage!.completion_tokens)
    const upstream = await lastUpstreamBody()
    expect(upstream.system).toEqual([{ text: 'Be brief.' }])
    expect(upstream.inferenceConfig).toEqual({ maxTokens: 200 })
  })

  it('streamed with include_usage: role first, text deltas, finish, a usage chunk, then the end', async () => {
    const stream = await openai().chat.completions.create({ model: SONNET, messages: [{ role: 'user', content: 'Hello there' }], stream: true, stream_options: { include_usage: true } })
    let text = ''
    let first: any
    let finish: string | null = null
    let usage: any
    for await (const chunk of stream) {
      first ??= chunk
      for (const c of chunk.choices) {
        text += c.delta.content ?? ''
        finish = c.finish_reason ?? finish
      }
      if (chunk.usage) usage = chunk.usage
    }
    expect(first.choices[0].delta.role).toBe('assistant')
    expect(text).toMatch(/^Hello from us-(east-1|west-2)/)
    expect(finish).toBe('stop')
    expect(usage.completion_tokens).toBeGreaterThan(0)
  })

  it('streamed, with Bedrock’s frames arriving one at a time (events that render to nothing in between)', async () => {
    await h.control('/__sim/config', { frameDelayMs: 5 })
    for (const include_usage of [false, true]) {
      const stream = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hello there' }], stream: true, stream_options: { include_usage } })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      expect(text).toMatch(/^Hello from/)
    }
  })

  it('a tool-call round trip: tool_calls with stable ids, the tool result, the final answer', async () => {
    const client = openai()
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }]
    const first = await client.chat.completions.create({ model: 'sonnet', messages, tools: [weather], tool_choice: 'auto' })
    expect(first.choices[0].finish_reason).toBe('tool_calls')
    const call = first.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall
    expect(call.function.name).toBe('get_weather')
    expect(JSON.parse(call.function.arguments)).toHaveProperty('city')
    messages.push(first.choices[0].message, { role: 'tool', tool_call_id: call.id, content: 'Sunny, 24 °C' })
    const second = await client.chat.completions.create({ model: 'sonnet', messages, tools: [weather] })
    expect(second.choices[0].finish_reason).toBe('stop')
    expect(second.choices[0].message.content).toMatch(/^Hello from/)
    const upstream = await lastUpstreamBody()
    expect(upstream.messages[1].content.find((b: any) => b.toolUse).toolUse.toolUseId).toBe(call.id)
    expect(upstream.messages[2].content[0].toolResult).toEqual({ toolUseId: call.id, content: [{ text: 'Sunny, 24 °C' }] })
  })

  it('streamed tool call: id, name and arguments arrive as deltas', async () => {
    const stream = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Weather in Rome?' }], tools: [weather], stream: true })
    const calls: Record<number, { id?: string; name?: string; args: string }> = {}
    let finish: string | null = null
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        for (const t of c.delta.tool_calls ?? []) {
          calls[t.index] ??= { args: '' }
          if (t.id) calls[t.index].id = t.id
          if (t.function?.name) calls[t.index].name = t.function.name
          calls[t.index].args += t.function?.arguments ?? ''
        }
        finish = c.finish_reason ?? finish
      }
    }
    expect(calls[0].id).toMatch(/^tooluse_/)
    expect(calls[0].name).toBe('get_weather')
    expect(JSON.parse(calls[0].args)).toHaveProperty('city')
    expect(finish).toBe('tool_calls')
  })

  it('an image as a data URL reaches Bedrock as an image block', async () => {
    const out = await openai().chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] }],
    })
    expect(out.choices[0].message.content).toMatch(/^Hello from/)
    const upstream = await lastUpstreamBody()
    expect(upstream.messages[0].content[1]).toEqual({ image: { format: 'png', source: { bytes: PNG } } })
  })

  it('a JSON-schema response comes back as the message content, valid against the schema', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temperature: { type: 'number' } }, required: ['city', 'temperature'] }
    const out = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Weather in Oslo as JSON' }], response_format: { type: 'json_schema', json_schema: { name: 'weather_report', schema } } })
    expect(out.choices[0].finish_reason).toBe('stop')
    expect(out.choices[0].message.tool_calls).toBeUndefined()
    const parsed = JSON.parse(out.choices[0].message.content!)
    expect(typeof parsed.city).toBe('string')
    expect(typeof parsed.temperature).toBe('number')
    const upstream = await lastUpstreamBody()
    expect(upstream.toolConfig.toolChoice).toEqual({ tool: { name: 'weather_report' } })
  })

  it('errors surface as the client’s typed errors, and nothing invalid goes upstream', async () => {
    const before = (await h.control('/__sim/requests')).requests.length
    await expect(openai('wrong-key').chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    await expect(openai().chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.NotFoundError)
    const bad = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'x' }], n: 3 }).catch((e) => e)
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError)
    expect(bad.param).toBe('n')
    expect((await h.control('/__sim/requests')).requests.length).toBe(before)
    // Configured limit (rpm 1): the second request is refused by the router with Retry-After.
    await openai().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] })
    const limited = await openai().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(limited.error.code).toBe('rate_limit_exceeded')
  })

  it('health: 503 for load balancers while a pool has no deployment that can serve (tiny’s rpm 1 window is full)', async () => {
    await openai().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }] }).catch(() => {})
    const anonymous = await fetch(`${h.router.url}/health`)
    expect(anonymous.status).toBe(503)
    const detailed = (await (await fetch(`${h.router.url}/health`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()) as any
    expect(detailed.problems).toEqual(['pool tiny: no deployment can serve now (tiny-use1: window-full)'])
  })

  it('every deployment throttled: 429 with Retry-After, as a RateLimitError', async () => {
    await h.control('/__sim/rules', { fault: 'throttle' })
    const err = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(OpenAI.RateLimitError)
    expect(err.headers.get('retry-after')).toBeTruthy()
  })

  it('failover underneath is invisible: one region throttling, plain and streamed', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    for (let i = 0; i < 4; i++) {
      const out = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hello' }] })
      expect(out.choices[0].message.content).toMatch(/^Hello from us-west-2/)
      const stream = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hello' }], stream: true })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
      expect(text).toMatch(/^Hello from us-west-2/)
    }
  })

  it('a stream that breaks after its first content ends with an error the client raises, not a clean end', async () => {
    await h.control('/__sim/rules', { fault: 'cut', afterFrames: 3 })
    const stream = await openai().chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hello' }], stream: true })
    let text = ''
    const err = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ''
    })().catch((e) => e)
    expect(text.length).toBeGreaterThan(0)
    expect(err).toBeInstanceOf(OpenAI.APIError)
    expect(String(err.message)).toMatch(/upstream stream/)
  })

  it('models: the pools and model IDs, in OpenAI’s list shape', async () => {
    const ids: string[] = []
    for await (const m of openai().models.list()) ids.push(m.id)
    expect(ids).toEqual(['sonnet', 'tiny', SONNET, 'amazon.nova-micro-v1:0'])
    expect((await openai().models.retrieve(SONNET)).id).toBe(SONNET)
    await expect(openai().models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError)
  })
})

describe('Vercel AI SDK (@ai-sdk/openai-compatible)', () => {
  const provider = () => createOpenAICompatible({ name: 'router', baseURL: `${h.router.url}/v1`, apiKey: CLIENT_KEY, includeUsage: true })

  it('generateText', async () => {
    const { text, usage, finishReason } = await generateText({ model: provider()('sonnet'), prompt: 'Hello there', maxRetries: 0 })
    expect(text).toMatch(/^Hello from us-(east-1|west-2)/)
    expect(finishReason).toBe('stop')
    expect(usage.inputTokens).toBeGreaterThan(0)
  })

  it('streamText, with one region throttling underneath', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    const result = streamText({ model: provider()('sonnet'), prompt: 'Hello there', maxRetries: 0 })
    let text = ''
    for await (const part of result.textStream) text += part
    expect(text).toMatch(/^Hello from us-west-2/)
    expect((await result.usage).outputTokens).toBeGreaterThan(0)
  })

  it('a tool call, executed and answered in a second step', async () => {
    let called: unknown
    const { text, steps } = await generateText({
      model: provider()('sonnet'),
      prompt: 'What is the weather in Paris?',
      tools: {
        get_weather: tool({
          description: 'Weather in a city',
          inputSchema: jsonSchema<{ city: string }>({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
          execute: async (input) => {
            called = input
            return 'Sunny'
          },
        }),
      },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    })
    expect(called).toHaveProperty('city')
    expect(steps[0].finishReason).toBe('tool-calls')
    expect(text).toMatch(/^Hello from/)
  })
})
