import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { ANTHROPIC_VERSION, CLAUDE, NOVA, bearerAction, claudeBody, errorTypeOf, userBody } from './test-helpers'

const tool = { name: 'cosine', description: 'cosine of x', input_schema: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } }
const clock = () => {
  let t = 1_000_000
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

async function invoke(body: string, o: { sim?: Simulator; modelId?: string; region?: string; headers?: Record<string, string> } = {}) {
  const sim = o.sim ?? createSimulator()
  const res = await sim.fetch(bearerAction(o.modelId ?? CLAUDE, 'invoke', body, o.headers), o.region ?? 'us-east-1')
  return { res, json: (await res.json()) as any, sim }
}

describe('InvokeModel, Anthropic Claude', () => {
  it('answers an Anthropic message naming region and model, with usage in the body and the headers', async () => {
    const { res, json } = await invoke(claudeBody('x'.repeat(40)), { region: 'eu-west-1' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
    const text = `Hello from eu-west-1 (model ${CLAUDE}).`
    const output = Math.ceil(text.length / 4)
    expect(json).toEqual({
      id: expect.stringMatching(/^msg_bdrk_01[A-Za-z0-9]{22}$/),
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-6',
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        output_tokens: output,
      },
    })
    expect(Object.keys(json)).toEqual(['id', 'type', 'role', 'model', 'content', 'stop_reason', 'stop_sequence', 'usage'])
    expect(res.headers.get('x-amzn-bedrock-input-token-count')).toBe('10')
    expect(res.headers.get('x-amzn-bedrock-output-token-count')).toBe(String(output))
    expect(Number(res.headers.get('x-amzn-bedrock-invocation-latency'))).toBeGreaterThanOrEqual(1)
    expect(res.headers.get('x-amzn-bedrock-cache-read-input-token-count')).toBeNull()
  })

  it.each([
    ['anthropic.claude-3-haiku-20240307-v1:0', 'claude-3-haiku-20240307'],
    ['us.anthropic.claude-opus-4-6-v1', 'claude-opus-4-6'],
    ['global.anthropic.claude-sonnet-4-5-20250929-v1:0', 'claude-sonnet-4-5-20250929'],
    ['arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0', 'claude-3-5-haiku-20241022'],
    ['arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-haiku-4-5-20251001-v1:0', 'claude-haiku-4-5-20251001'],
  ])('reports Anthropic\'s model name for %s', async (modelId, name) => {
    const { json } = await invoke(claudeBody(), { modelId })
    expect(json.model).toBe(name)
    expect(json.content[0].text).toBe(`Hello from us-east-1 (model ${modelId}).`)
  })

  it('counts input like Converse (messages, string content and system, in string or block form)', async () => {
    const sim = createSimulator()
    const messages = [
      { role: 'user', content: 'abcde' },
      { role: 'assistant', content: [{ type: 'text', text: 'abc' }] },
      { role: 'user', content: [{ type: 'text', text: 'a' }] },
    ]
    const asString = await invoke(claudeBody('', { system: 'abcdefghij', messages }), { sim })
    const asBlocks = await invoke(claudeBody('', { system: [{ type: 'text', text: 'abcdefghij' }], messages }), { sim })
    const converse = await sim.fetch(
      bearerAction(CLAUDE, 'converse', JSON.stringify({ system: [{ text: 'abcdefghij' }], messages: messages.map((m) => ({ role: m.role, content: [{ text: typeof m.content === 'string' ? m.content : m.content[0].text }] })) })),
      'us-east-1',
    )
    expect(asString.json.usage.input_tokens).toBe(Math.ceil(19 / 4))
    expect(asBlocks.json.usage.input_tokens).toBe(Math.ceil(19 / 4))
    expect(((await converse.json()) as any).usage.inputTokens).toBe(Math.ceil(19 / 4))
  })

  it('answers tool_use when tools are offered, text after a tool_result', async () => {
    const first = await invoke(claudeBody('cos 7', { tools: [tool] }))
    expect(first.json.stop_reason).toBe('tool_use')
    expect(first.json.content).toEqual([
      { type: 'text', text: `Calling cosine from us-east-1 (model ${CLAUDE}).` },
      { type: 'tool_use', id: expect.stringMatching(/^toolu_bdrk_01[A-Za-z0-9]{22}$/), name: 'cosine', input: { x: 7 } },
    ])
    const use = first.json.content[1]
    const second = await invoke(
      claudeBody('', {
        tools: [tool],
        messages: [
          { role: 'user', content: 'cos 7' },
          { role: 'assistant', content: [use] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '0.75' }] },
        ],
      }),
    )
    expect(second.json.stop_reason).toBe('end_turn')
    expect(second.json.content).toEqual([{ type: 'text', text: `Hello from us-east-1 (model ${CLAUDE}).` }])
  })

  it('follows tool_choice: {type: "tool"} picks that tool, {type: "none"} answers text', async () => {
    const now = { name: 'now', input_schema: { type: 'object' } }
    const picked = await invoke(claudeBody('time?', { tools: [tool, now], tool_choice: { type: 'tool', name: 'now' } }))
    expect(picked.json.content[1]).toMatchObject({ type: 'tool_use', name: 'now', input: {} })
    const none = await invoke(claudeBody('time?', { tools: [tool, now], tool_choice: { type: 'none' } }))
    expect(none.json.stop_reason).toBe('end_turn')
    expect(none.json.content).toHaveLength(1)
  })

  it('truncates at max_tokens (stop_reason max_tokens) and stops at a stop sequence', async () => {
    const short = await invoke(claudeBody('hi', { max_tokens: 3 }))
    expect(short.json).toMatchObject({ stop_reason: 'max_tokens', stop_sequence: null, content: [{ type: 'text', text: 'Hello from u' }] })
    expect(short.json.usage.output_tokens).toBe(3)
    const stopped = await invoke(claudeBody('hi', { stop_sequences: ['zzz', ' (model'] }))
    expect(stopped.json).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: ' (model', content: [{ type: 'text', text: 'Hello from us-east-1' }] })
    expect(stopped.json.usage.output_tokens).toBe(Math.ceil('Hello from us-east-1'.length / 4))
  })

  it('thinks first when thinking is enabled, counting the thinking as output', async () => {
    const { json } = await invoke(claudeBody('hi', { max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2048 } }))
    const thinking = `Thinking about the answer in us-east-1 (model ${CLAUDE}).`
    const text = `Hello from us-east-1 (model ${CLAUDE}).`
    expect(json.content).toEqual([
      { type: 'thinking', thinking, signature: expect.stringMatching(/^[A-Za-z0-9+/=]+$/) },
      { type: 'text', text },
    ])
    expect(json.usage.output_tokens).toBe(Math.ceil(thinking.length / 4) + Math.ceil(text.length / 4))
  })

  it.each([
    ['malformed JSON', '{"messages": [', 'Malformed input request, please reformat your input and try again.'],
    ['missing anthropic_version', JSON.stringify({ max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), 'required key [anthropic_version] not found'],
    ['missing max_tokens', JSON.stringify({ anthropic_version: ANTHROPIC_VERSION, messages: [{ role: 'user', content: 'hi' }] }), 'required key [max_tokens] not found'],
    ['missing messages', JSON.stringify({ anthropic_version: ANTHROPIC_VERSION, max_tokens: 10 }), 'required key [messages] not found'],
    ['a Converse body', userBody(), '#: required key [anthropic_version] not found#: required key [max_tokens] not found,'],
    ['model in the body', claudeBody('hi', { model: 'claude-sonnet-4-6' }), 'extraneous key [model] is not permitted'],
    ['stream in the body', claudeBody('hi', { stream: true }), 'extraneous key [stream] is not permitted'],
    ['max_tokens 0', claudeBody('hi', { max_tokens: 0 }), '#/max_tokens: 0 is not greater or equal to 1'],
    ['max_tokens as a string', claudeBody('hi', { max_tokens: '10' }), '#/max_tokens: expected type: Integer, found: String'],
    ['empty messages', claudeBody('hi', { messages: [] }), 'expected minimum item count: 1'],
    ['bad role', claudeBody('hi', { messages: [{ role: 'system', content: 'hi' }] }), '#/messages/0/role: system is not a valid enum value'],
    ['block without type', claudeBody('hi', { messages: [{ role: 'user', content: [{ text: 'hi' }] }] }), '#/messages/0/content/0: required key [type] not found'],
    ['temperature 2', claudeBody('hi', { temperature: 2 }), '#/temperature: 2 is not less or equal to 1'],
    ['tool without input_schema', claudeBody('hi', { tools: [{ name: 'x' }] }), '#/tools/0: required key [input_schema] not found'],
    ['tool_choice tool without name', claudeBody('hi', { tools: [tool], tool_choice: { type: 'tool' } }), '#/tool_choice: required key [name] not found'],
    ['thinking budget below 1024', claudeBody('hi', { thinking: { type: 'enabled', budget_tokens: 100 } }), 'budget_tokens: Input should be greater than or equal to 1024'],
    ['thinking budget >= max_tokens', claudeBody('hi', { max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 2000 } }), '`max_tokens` must be greater than `thinking.budget_tokens`'],
    ['bad cache_control', claudeBody('hi', { system: [{ type: 'text', text: 's', cache_control: { type: 'persistent' } }] }), 'cache_control/type: persistent is not a valid enum value'],
    [
      'five cache_control blocks',
      claudeBody('hi', { system: Array.from({ length: 5 }, () => ({ type: 'text', text: 's', cache_control: { type: 'ephemeral' } })) }),
      'A maximum of 4 blocks with cache_control may be provided. Found 5.',
    ],
  ])('400 ValidationException for %s', async (_name, body, message) => {
    const { res, json, sim } = await invoke(body)
    expect(res.status).toBe(400)
    expect(errorTypeOf(res)).toBe('ValidationException')
    expect(json.message).toContain(message)
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ accepted: 0, rejected: 1, errors: { ValidationException: 1 } })
  })

  it('404 ResourceNotFoundException for unknown models, as on Converse', async () => {
    const sim = createSimulator({ unknownModels: ['us.anthropic.*'] })
    const { res } = await invoke(claudeBody(), { sim })
    expect([res.status, errorTypeOf(res)]).toEqual([404, 'ResourceNotFoundException'])
  })

  it('echoes the performance-config and service-tier headers', async () => {
    const { res } = await invoke(claudeBody(), { headers: { 'X-Amzn-Bedrock-PerformanceConfig-Latency': 'optimized', 'X-Amzn-Bedrock-Service-Tier': 'priority' } })
    expect(res.headers.get('x-amzn-bedrock-performanceconfig-latency')).toBe('optimized')
    expect(res.headers.get('x-amzn-bedrock-service-tier')).toBe('priority')
  })
})

describe('InvokeModel prompt caching (cache_control)', () => {
  const cached = (question: string, ttl?: '1h') =>
    claudeBody('', {
      system: [{ type: 'text', text: 's'.repeat(400), cache_control: { type: 'ephemeral', ...(ttl ? { ttl } : {}) } }],
      messages: [{ role: 'user', content: question }],
    })

  it('writes the cached prefix on the first request and reads it on repeats', async () => {
    const sim = createSimulator()
    const first = await invoke(cached('question one'), { sim })
    expect(first.json.usage).toEqual({
      input_tokens: Math.ceil(412 / 4) - 100,
      cache_creation_input_tokens: 100,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 0 },
      output_tokens: expect.any(Number),
    })
    expect(first.res.headers.get('x-amzn-bedrock-input-token-count')).toBe('3')
    expect(first.res.headers.get('x-amzn-bedrock-cache-write-input-token-count')).toBe('100')
    expect(first.res.headers.get('x-amzn-bedrock-cache-read-input-token-count')).toBe('0')
    // Same prefix, another question: the prefix is read.
    const second = await invoke(cached('question two!'), { sim })
    expect(second.json.usage).toMatchObject({ input_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 })
    expect(second.res.headers.get('x-amzn-bedrock-cache-read-input-token-count')).toBe('100')
    // Caches are per region and model.
    expect((await invoke(cached('question one'), { sim, region: 'us-west-2' })).json.usage.cache_creation_input_tokens).toBe(100)
    expect((await invoke(cached('question one'), { sim, modelId: 'anthropic.claude-3-haiku-20240307-v1:0' })).json.usage.cache_read_input_tokens).toBe(0)
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ inputTokens: 3 + 4, cacheWriteInputTokens: 100, cacheReadInputTokens: 100 })
  })

  it('expires entries after their TTL on the simulator clock (5 min default, 1 h when asked); reset clears them', async () => {
    const c = clock()
    const sim = createSimulator({ now: c.now })
    await invoke(cached('q'), { sim })
    c.advance(4 * 60_000)
    expect((await invoke(cached('q'), { sim })).json.usage.cache_read_input_tokens).toBe(100) // read refreshes the TTL
    c.advance(4 * 60_000)
    expect((await invoke(cached('q'), { sim })).json.usage.cache_read_input_tokens).toBe(100)
    c.advance(5 * 60_000 + 1)
    expect((await invoke(cached('q'), { sim })).json.usage.cache_creation_input_tokens).toBe(100)

    const long = await invoke(cached('q', '1h'), { sim })
    expect(long.json.usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 100 })
    c.advance(59 * 60_000)
    expect((await invoke(cached('q', '1h'), { sim })).json.usage.cache_read_input_tokens).toBe(100)
    sim.reset()
    expect((await invoke(cached('q', '1h'), { sim })).json.usage.cache_read_input_tokens).toBe(0)
  })

  it('reads the longest cached prefix and writes the rest up to the last breakpoint', async () => {
    const sim = createSimulator()
    const system = [{ type: 'text', text: 's'.repeat(400), cache_control: { type: 'ephemeral' } }]
    await invoke(claudeBody('', { system, messages: [{ role: 'user', content: 'question' }] }), { sim })
    const turn = (text: string) => ({ role: 'user', content: [{ type: 'text', text, cache_control: { type: 'ephemeral', ttl: '1h' } }] })
    const { json } = await invoke(claudeBody('', { system, messages: [turn('m'.repeat(200))] }), { sim })
    expect(json.usage).toMatchObject({
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 50,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 50 },
      input_tokens: 0,
    })
  })

  it('a conversation that moves its breakpoint to the newest message reads the previous turn (look-back)', async () => {
    const sim = createSimulator()
    const marked = (text: string) => [{ type: 'text', text, cache_control: { type: 'ephemeral' } }]
    const first = [{ role: 'user', content: marked('u'.repeat(400)) }]
    expect((await invoke(claudeBody('', { messages: first }), { sim })).json.usage).toMatchObject({ cache_read_input_tokens: 0, cache_creation_input_tokens: 100 })
    const second = [{ role: 'user', content: [{ type: 'text', text: 'u'.repeat(400) }] }, { role: 'assistant', content: 'a'.repeat(40) }, { role: 'user', content: marked('v'.repeat(400)) }]
    expect((await invoke(claudeBody('', { messages: second }), { sim })).json.usage).toMatchObject({ cache_read_input_tokens: 100, cache_creation_input_tokens: 110 })
  })
})

describe('InvokeModel, other model families', () => {
  it('answers Amazon Nova\'s native body with its native response (both maxTokens spellings)', async () => {
    const body = userBody('x'.repeat(40), { inferenceConfig: { max_new_tokens: 3 } })
    const { res, json } = await invoke(body, { modelId: NOVA })
    expect(res.status).toBe(200)
    expect(json).toEqual({
      output: { message: { role: 'assistant', content: [{ text: 'Hello from u' }] } },
      stopReason: 'max_tokens',
      usage: { inputTokens: 10, outputTokens: 3, totalTokens: 13, cacheReadInputTokenCount: 0, cacheWriteInputTokenCount: 0 },
    })
    expect(res.headers.get('x-amzn-bedrock-input-token-count')).toBe('10')
    expect(res.headers.get('x-amzn-bedrock-output-token-count')).toBe('3')
    const full = await invoke(userBody('hi', { inferenceConfig: { maxTokens: 500 } }), { modelId: NOVA })
    expect(full.json.output.message.content[0].text).toBe(`Hello from us-east-1 (model ${NOVA}).`)
  })

  it('answers Nova tool use in the Converse shape', async () => {
    const toolConfig = { tools: [{ toolSpec: { name: 'cosine', inputSchema: { json: tool.input_schema } } }] }
    const { json } = await invoke(userBody('cos 7', { toolConfig }), { modelId: NOVA })
    expect(json.stopReason).toBe('tool_use')
    expect(json.output.message.content[1]).toEqual({ toolUse: { toolUseId: expect.stringMatching(/^tooluse_/), name: 'cosine', input: { x: 7 } } })
  })

  it('rejects an Anthropic body sent to Nova, and any body for families it does not model', async () => {
    const nova = await invoke(claudeBody(), { modelId: NOVA })
    expect([nova.res.status, errorTypeOf(nova.res)]).toEqual([400, 'ValidationException'])
    expect(nova.json.message).toContain('extraneous key [anthropic_version] is not permitted')
    const llama = await invoke(JSON.stringify({ prompt: 'hi', max_gen_len: 10 }), { modelId: 'meta.llama3-1-8b-instruct-v1:0' })
    expect([llama.res.status, errorTypeOf(llama.res)]).toEqual([400, 'ValidationException'])
    expect(llama.json.message).toContain('Anthropic Claude and Amazon Nova models only')
  })

  it('reads the body format of an application inference profile from the body', async () => {
    const profile = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123'
    const claude = await invoke(claudeBody(), { modelId: profile })
    expect(claude.json).toMatchObject({ type: 'message', model: profile })
    const nova = await invoke(userBody(), { modelId: profile })
    expect(nova.json.output.message.content[0].text).toBe(`Hello from us-east-1 (model ${profile}).`)
  })

  it('serves an Anthropic prompt router, naming the model it routed to', async () => {
    const router = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1'
    const { json } = await invoke(claudeBody('hi'), { modelId: router })
    expect(json.model).toBe('claude-3-haiku-20240307')
  })
})
