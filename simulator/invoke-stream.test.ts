import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { CLAUDE, NOVA, bearerAction, chunkEvents, claudeBody, decodeFrames, readAll, userBody } from './test-helpers'

const tool = { name: 'cosine', input_schema: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } }

async function stream(body: string, o: { sim?: Simulator; modelId?: string; region?: string } = {}) {
  const sim = o.sim ?? createSimulator()
  const res = await sim.fetch(bearerAction(o.modelId ?? CLAUDE, 'invoke-with-response-stream', body), o.region ?? 'us-east-1')
  expect(res.status).toBe(200)
  const { bytes } = await readAll(res.body!)
  const frames = decodeFrames(bytes)
  return { res, frames, events: chunkEvents(frames), sim }
}

const types = (events: any[]) => events.map((e) => e.type)
const deltaText = (events: any[], kind = 'text_delta', field = 'text') =>
  events.filter((e) => e.type === 'content_block_delta' && e.delta.type === kind).map((e) => e.delta[field]).join('')

describe('InvokeModelWithResponseStream, Anthropic Claude', () => {
  it('sends chunk frames: {bytes: base64 of one Anthropic event, p: padding}', async () => {
    const { res, frames } = await stream(claudeBody())
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    expect(res.headers.get('x-amzn-bedrock-content-type')).toBe('application/json')
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy()
    for (const f of frames) {
      expect(f.headerNames).toEqual([':event-type', ':content-type', ':message-type'])
      expect(f.headers).toEqual({ ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' })
      expect(Object.keys(f.payload)).toEqual(['bytes', 'p'])
      expect(f.payload.bytes).toMatch(/^[A-Za-z0-9+/]+=*$/)
      expect('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.startsWith(f.payload.p)).toBe(true)
    }
  })

  it('streams the Anthropic events in order, with usage on message_start / message_delta and metrics on message_stop', async () => {
    const { events } = await stream(claudeBody('y'.repeat(20)), { region: 'eu-west-1' })
    const text = `Hello from eu-west-1 (model ${CLAUDE}).`
    const output = Math.ceil(text.length / 4)
    expect(types(events)[0]).toBe('message_start')
    expect(events[0].message).toEqual({
      model: 'claude-sonnet-4-6',
      id: expect.stringMatching(/^msg_bdrk_01/),
      type: 'message',
      role: 'assistant',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        output_tokens: 1,
      },
    })
    expect(events[1]).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
    expect(events.filter((e) => e.type === 'content_block_delta').length).toBeGreaterThan(2)
    expect(deltaText(events)).toBe(text)
    expect(types(events).slice(-4)).toEqual(['content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    expect(events.at(-3)).toEqual({ type: 'content_block_stop', index: 0 })
    expect(events.at(-2)).toEqual({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: output } })
    expect(events.at(-1)).toEqual({
      type: 'message_stop',
      'amazon-bedrock-invocationMetrics': { inputTokenCount: 5, outputTokenCount: output, invocationLatency: expect.any(Number), firstByteLatency: expect.any(Number) },
    })
    const m = events.at(-1)['amazon-bedrock-invocationMetrics']
    expect(m.firstByteLatency).toBeGreaterThanOrEqual(1)
    expect(m.invocationLatency).toBeGreaterThanOrEqual(m.firstByteLatency)
  })

  it('streams tool use: a tool_use block with input_json_delta parts starting with ""', async () => {
    const { events } = await stream(claudeBody('cos 7', { tools: [tool] }))
    const start = events.findIndex((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use')
    expect(events[start]).toEqual({
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: expect.stringMatching(/^toolu_bdrk_01/), name: 'cosine', input: {} },
    })
    const parts = events.slice(start + 1).filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json)
    expect(parts[0]).toBe('')
    expect(JSON.parse(parts.join(''))).toEqual({ x: 7 })
    expect(events.at(-2).delta.stop_reason).toBe('tool_use')
    expect(events.at(-3)).toEqual({ type: 'content_block_stop', index: 1 })
  })

  it('streams thinking first: thinking_delta parts, then a signature_delta', async () => {
    const { events } = await stream(claudeBody('hi', { max_tokens: 3000, thinking: { type: 'enabled', budget_tokens: 1024 } }))
    expect(events[1]).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } })
    expect(deltaText(events, 'thinking_delta', 'thinking')).toBe(`Thinking about the answer in us-east-1 (model ${CLAUDE}).`)
    expect(events.find((e) => e.delta?.type === 'signature_delta').delta.signature).toMatch(/^[A-Za-z0-9+/=]+$/)
    expect(events.find((e) => e.type === 'content_block_start' && e.content_block.type === 'text').index).toBe(1)
  })

  it('has the same content and usage as InvokeModel for the same request', async () => {
    const sim = createSimulator()
    const body = claudeBody('same question', { tools: [tool], stop_sequences: ['never'] })
    const whole = (await (await sim.fetch(bearerAction(CLAUDE, 'invoke', body), 'us-east-1')).json()) as any
    const { events } = await stream(body, { sim })
    expect(events[0].message.usage.input_tokens).toBe(whole.usage.input_tokens)
    expect(events.at(-2).usage.output_tokens).toBe(whole.usage.output_tokens)
    expect(deltaText(events)).toBe(whole.content[0].text)
  })

  it('reports prompt-cache tokens on message_start and in the invocation metrics', async () => {
    const sim = createSimulator()
    const body = claudeBody('', { system: [{ type: 'text', text: 's'.repeat(400), cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'q' }] })
    const first = await stream(body, { sim })
    expect(first.events[0].message.usage).toMatchObject({ input_tokens: 1, cache_creation_input_tokens: 100, cache_read_input_tokens: 0 })
    const again = await stream(body, { sim })
    expect(again.events[0].message.usage).toMatchObject({ input_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 })
    expect(again.events.at(-1)['amazon-bedrock-invocationMetrics']).toMatchObject({ inputTokenCount: 1, cacheReadInputTokenCount: 100, cacheWriteInputTokenCount: 0 })
  })
})

describe('InvokeModelWithResponseStream, Amazon Nova', () => {
  it('wraps the Converse stream events as {eventName: payload}, the last chunk carrying invocation metrics', async () => {
    const { events } = await stream(userBody('x'.repeat(8)), { modelId: NOVA })
    expect(events[0]).toEqual({ messageStart: { role: 'assistant' } })
    const text = events.filter((e) => e.contentBlockDelta).map((e) => e.contentBlockDelta.delta.text).join('')
    expect(text).toBe(`Hello from us-east-1 (model ${NOVA}).`)
    expect(events.at(-2)).toEqual({ messageStop: { stopReason: 'end_turn' } })
    const output = Math.ceil(text.length / 4)
    expect(events.at(-1)).toEqual({
      metadata: { usage: { inputTokens: 2, outputTokens: output }, metrics: {}, trace: {} },
      'amazon-bedrock-invocationMetrics': { inputTokenCount: 2, outputTokenCount: output, invocationLatency: expect.any(Number), firstByteLatency: expect.any(Number) },
    })
  })
})

describe('InvokeModelWithResponseStream faults', () => {
  it('sends an exception frame after N chunks (stream rules apply to invoke-stream)', async () => {
    const sim = createSimulator()
    sim.addRule({ fault: 'exception', afterFrames: 2, exceptionType: 'modelStreamErrorException', operation: 'invoke-stream' })
    const res = await sim.fetch(bearerAction(CLAUDE, 'invoke-with-response-stream', claudeBody()), 'us-east-1')
    const frames = decodeFrames((await readAll(res.body!)).bytes)
    expect(frames).toHaveLength(3)
    expect(chunkEvents(frames.slice(0, 2)).map((e) => e.type)).toEqual(['message_start', 'content_block_start'])
    expect(frames[2].headers).toEqual({ ':exception-type': 'modelStreamErrorException', ':content-type': 'application/json', ':message-type': 'exception' })
    expect(frames[2].payload).toEqual({ message: 'Model Stream Error' })
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ accepted: 1, streamExceptions: 1 })
  })

  it('has the modelTimeoutException message InvokeModelWithResponseStream can send', async () => {
    const sim = createSimulator({ rules: [{ fault: 'exception', afterFrames: 0, exceptionType: 'modelTimeoutException' }] })
    const res = await sim.fetch(bearerAction(CLAUDE, 'invoke-with-response-stream', claudeBody()), 'us-east-1')
    const [frame] = decodeFrames((await readAll(res.body!)).bytes)
    expect(frame.headers[':exception-type']).toBe('modelTimeoutException')
    expect(frame.payload.message).toBe('Model has timed out in processing the request. Try your request again.')
  })

  it('cuts the connection mid-stream and counts the produced tokens only', async () => {
    const sim = createSimulator()
    sim.addRule({ fault: 'cut', afterFrames: 3, partialBytes: 10 })
    const res = await sim.fetch(bearerAction(CLAUDE, 'invoke-with-response-stream', claudeBody()), 'us-east-1')
    const reader = res.body!.getReader()
    const got: number[] = []
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return
          got.push(...value)
        }
      })(),
    ).rejects.toThrow('simulated connection cut')
    const whole = decodeFrames(Uint8Array.from(got.slice(0, got.length - 10)))
    expect(whole).toHaveLength(3)
    const stats = sim.stats()['us-east-1'][CLAUDE]
    expect(stats.streamsCut).toBe(1)
    expect(stats.outputTokens).toBe(3) // message_start, content_block_start and one text delta ("Hello from") were sent
  })

  it('delays the first chunk with a delay rule', async () => {
    const sim = createSimulator({ rules: [{ fault: 'delay', firstFrameMs: 120, operation: 'invoke-stream' }] })
    const t0 = Date.now()
    const res = await sim.fetch(bearerAction(CLAUDE, 'invoke-with-response-stream', claudeBody()), 'us-east-1')
    const { bytes } = await readAll(res.body!)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(115)
    expect(chunkEvents(decodeFrames(bytes)).at(-1)['amazon-bedrock-invocationMetrics'].firstByteLatency).toBeGreaterThanOrEqual(115)
  })
})
