import { describe, expect, it } from 'vitest'
import { createSimulator } from './handler'
import { BASE, NOVA, bearer, errorTypeOf, signed, userBody } from './test-helpers'

const tool = {
  toolSpec: {
    name: 'cosine',
    description: 'cosine of x',
    inputSchema: { json: { type: 'object', properties: { x: { type: 'number' }, unit: { type: 'string', enum: ['rad', 'deg'] } }, required: ['x', 'unit'] } },
  },
}

async function converse(body: string, opts: { modelId?: string; region?: string; sim?: ReturnType<typeof createSimulator> } = {}) {
  const sim = opts.sim ?? createSimulator()
  const res = await sim.fetch(bearer(opts.modelId ?? NOVA, body), opts.region ?? 'us-east-1')
  return { res, json: (await res.json()) as any, sim }
}

describe('Converse', () => {
  it('answers the ConverseResponse shape with text naming region and model', async () => {
    const { res, json } = await converse(userBody('x'.repeat(40)), { region: 'eu-west-1' })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
    const text = `Hello from eu-west-1 (model ${NOVA}).`
    expect(json).toEqual({
      output: { message: { role: 'assistant', content: [{ text }] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 10, outputTokens: Math.ceil(text.length / 4), totalTokens: 10 + Math.ceil(text.length / 4) },
      metrics: { latencyMs: expect.any(Number) },
    })
  })

  it('counts input tokens over messages and system text (ceil(chars / 4))', async () => {
    const body = JSON.stringify({
      system: [{ text: 'abcdefghij' }], // 10
      messages: [
        { role: 'user', content: [{ text: 'abcde' }] }, // 5
        { role: 'assistant', content: [{ text: 'abc' }] }, // 3
        { role: 'user', content: [{ text: 'a' }] }, // 1
      ],
    })
    const { json } = await converse(body)
    expect(json.usage.inputTokens).toBe(Math.ceil(19 / 4))
  })

  it('honours inferenceConfig.maxTokens: truncates and reports max_tokens', async () => {
    const { json } = await converse(userBody('hi', { inferenceConfig: { maxTokens: 3 } }))
    expect(json.stopReason).toBe('max_tokens')
    expect(json.output.message.content[0].text).toBe(`Hello from u`)
    expect(json.usage.outputTokens).toBe(3)
  })

  it('pads the answer to responseChars (configurable at run time)', async () => {
    const sim = createSimulator({ responseChars: 500 })
    const first = await converse(userBody(), { sim })
    expect(first.json.output.message.content[0].text).toHaveLength(500)
    expect(first.json.output.message.content[0].text.startsWith('Hello from us-east-1')).toBe(true)
    expect(first.json.usage.outputTokens).toBe(125)
    sim.configure({ responseChars: 2000 })
    expect((await converse(userBody(), { sim })).json.output.message.content[0].text).toHaveLength(2000)
  })

  it('answers toolUse when tools are configured (input built from the schema)', async () => {
    const { json } = await converse(userBody('cos 7', { toolConfig: { tools: [tool] } }))
    expect(json.stopReason).toBe('tool_use')
    const [text, use] = json.output.message.content
    expect(text.text).toBe(`Calling cosine from us-east-1 (model ${NOVA}).`)
    expect(use.toolUse).toEqual({ toolUseId: expect.stringMatching(/^tooluse_[A-Za-z0-9_]+$/), name: 'cosine', input: { x: 7, unit: 'rad' } })
  })

  it('uses toolChoice.tool and input {} for a schema without properties', async () => {
    const other = { toolSpec: { name: 'now', inputSchema: { json: { type: 'object' } } } }
    const { json } = await converse(userBody('time?', { toolConfig: { tools: [tool, other], toolChoice: { tool: { name: 'now' } } } }))
    expect(json.output.message.content[1].toolUse).toMatchObject({ name: 'now', input: {} })
  })

  it('answers text after a toolResult, so agent loops end', async () => {
    const body = JSON.stringify({
      toolConfig: { tools: [tool] },
      messages: [
        { role: 'user', content: [{ text: 'cos 7' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'cosine', input: { x: 7 } } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ json: { value: 0.75 } }] } }] },
      ],
    })
    const { json } = await converse(body)
    expect(json.stopReason).toBe('end_turn')
    expect(json.output.message.content).toHaveLength(1)
  })

  it.each([
    ['malformed JSON', '{"messages": ['],
    ['missing messages', '{}'],
    ['empty messages', '{"messages": []}'],
    ['bad role', '{"messages": [{"role": "system", "content": []}]}'],
    ['maxTokens 0', userBody('hi', { inferenceConfig: { maxTokens: 0 } })],
  ])('400 ValidationException for %s', async (_name, body) => {
    const sim = createSimulator()
    const res = await sim.fetch(bearer(NOVA, body), 'us-east-1')
    expect(res.status).toBe(400)
    expect(res.headers.get('x-amzn-errortype')).toBe('ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/')
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy()
    expect(((await res.json()) as any).message).toEqual(expect.any(String))
    expect(sim.stats()['us-east-1'][NOVA]).toMatchObject({ accepted: 0, rejected: 1, errors: { ValidationException: 1 } })
  })

  it('404 ResourceNotFoundException for configured unknown models, per region or everywhere', async () => {
    const sim = createSimulator({ unknownModels: ['gone.model-v1:0', { region: 'eu-west-1', modelId: 'anthropic.*' }] })
    const status = async (modelId: string, region: string) => {
      const res = await sim.fetch(bearer(modelId), region)
      return [res.status, errorTypeOf(res)]
    }
    expect(await status('gone.model-v1:0', 'us-west-2')).toEqual([404, 'ResourceNotFoundException'])
    expect(await status('anthropic.claude-3-haiku-20240307-v1:0', 'eu-west-1')).toEqual([404, 'ResourceNotFoundException'])
    expect(await status('anthropic.claude-3-haiku-20240307-v1:0', 'us-east-1')).toEqual([200, undefined])
  })

  it('answers 200 UnknownOperationException for an ARN with a raw "/" in the path, like Bedrock', async () => {
    const sim = createSimulator()
    const req = new Request(`${BASE}/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x/converse`, {
      method: 'POST',
      body: userBody(),
      headers: { authorization: bearer(NOVA).headers.get('authorization')! },
    })
    const res = await sim.fetch(req, 'us-east-1')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ Output: { __type: 'com.amazon.coral.service#UnknownOperationException' }, Version: '1.0' })
  })

  it('404 UnknownOperationException for other paths', async () => {
    const res = await createSimulator().fetch(new Request(`${BASE}/foo`, { headers: bearer(NOVA).headers }), 'us-east-1')
    expect(res.status).toBe(404)
    expect(errorTypeOf(res)).toBe('UnknownOperationException')
  })

  it('records bodies and headers and counts per region+model', async () => {
    const sim = createSimulator()
    await sim.fetch(await signed(NOVA, userBody('first')), 'us-east-1')
    await sim.fetch(bearer(NOVA, userBody('second'), 'wrong-key'), 'us-east-1')
    await sim.fetch(bearer('other.model'), 'us-east-1')
    const recs = sim.requests({ modelId: NOVA })
    expect(recs.map((r) => [r.status, (r.body as any).messages[0].content[0].text])).toEqual([
      [200, 'first'],
      [403, 'second'],
    ])
    expect(recs[0].headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/)
    expect(recs[0].headers).not.toHaveProperty('authorization')
    expect(recs[1].authorization).toBe('Bearer wrong-key')
    expect(JSON.stringify(recs)).not.toContain('wrong-key')
    expect(sim.requests({ limit: 1 })[0].modelId).toBe('other.model')
    const stats = sim.stats()['us-east-1']
    expect(stats[NOVA]).toMatchObject({ accepted: 1, rejected: 1, errors: { UnrecognizedClientException: 1 }, windowRequests: 1 })
    expect(stats['other.model'].accepted).toBe(1)
  })
})

describe('Prompt router', () => {
  const router = 'arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1'

  it('routes short prompts to the small model and long ones to the large one, reporting the profile ARN', async () => {
    const short = await converse(userBody('hi'), { modelId: router })
    expect(short.json.trace).toEqual({
      promptRouter: { invokedModelId: 'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0' },
    })
    const long = await converse(userBody('x'.repeat(400)), { modelId: router, region: 'eu-west-1' })
    expect(long.json.trace.promptRouter.invokedModelId).toBe(
      'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0',
    )
  })

  it('serves custom routers and reports no trace for ordinary models', async () => {
    const custom = await converse(userBody('hi'), { modelId: 'arn:aws:bedrock:us-west-2:123456789012:prompt-router/abcd1234' , region: 'us-west-2' })
    expect(custom.json.trace.promptRouter.invokedModelId).toMatch(/^arn:aws:bedrock:us-west-2:123456789012:inference-profile\/us\.amazon\.nova-lite/)
    expect((await converse(userBody('hi'))).json.trace).toBeUndefined()
  })
})
