import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { NOVA, bearer, decodeFrames, readAll, userBody, type DecodedFrame } from './test-helpers'

const PAD = /^abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789$/
const ROUTER = 'arn:aws:bedrock:us-west-2:123456789012:default-prompt-router/meta.llama:1'
const tool = { toolSpec: { name: 'cosine', inputSchema: { json: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } } } }

async function stream(body: string, o: { sim?: Simulator; modelId?: string; region?: string } = {}) {
  const sim = o.sim ?? createSimulator()
  const res = await sim.fetch(bearer(o.modelId ?? NOVA, body, undefined, true), o.region ?? 'us-east-1')
  expect(res.status).toBe(200)
  const { bytes, chunks } = await readAll(res.body!)
  return { res, frames: decodeFrames(bytes), chunks, sim }
}

const types = (frames: DecodedFrame[]) => frames.map((f) => f.headers[':event-type'])
const withoutP = (payload: any) => {
  const { p: _p, ...rest } = payload
  return rest
}

describe('ConverseStream', () => {
  it('sends Bedrock-shaped frames: header order, bare payloads with sorted keys and a p padding field', async () => {
    const { res, frames } = await stream(userBody())
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy()
    for (const f of frames) {
      expect(f.headerNames).toEqual([':event-type', ':content-type', ':message-type'])
      expect(f.headers[':content-type']).toBe('application/json')
      expect(f.headers[':message-type']).toBe('event')
      expect(typeof f.payload.p).toBe('string')
      expect(f.payload.p.length).toBeGreaterThanOrEqual(2)
      expect(f.payload.p.length).toBeLessThanOrEqual(60)
      expect(PAD.source.slice(1, 1 + f.payload.p.length)).toBe(f.payload.p)
      expect(Object.keys(f.payload)).toEqual([...Object.keys(f.payload)].sort())
    }
    expect(new Set(frames.map((f) => f.payload.p.length)).size).toBeGreaterThan(1)
  })

  it('orders text events like Bedrock: no contentBlockStart for text, metadata last with usage', async () => {
    const { frames } = await stream(userBody('y'.repeat(20)), { region: 'eu-west-1' })
    const t = types(frames)
    expect(t[0]).toBe('messageStart')
    expect(withoutP(frames[0].payload)).toEqual({ role: 'assistant' })
    expect(t).not.toContain('contentBlockStart')
    const deltas = frames.filter((f) => f.headers[':event-type'] === 'contentBlockDelta')
    expect(deltas.length).toBeGreaterThan(2)
    const text = deltas.map((f) => f.payload.delta.text).join('')
    expect(text).toBe(`Hello from eu-west-1 (model ${NOVA}).`)
    expect(t.slice(-4)).toEqual(['contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata'])
    expect(withoutP(frames.at(-2)!.payload)).toEqual({ stopReason: 'end_turn' })
    const meta = withoutP(frames.at(-1)!.payload)
    expect(meta).toEqual({
      metrics: { latencyMs: expect.any(Number) },
      usage: { inputTokens: 5, outputTokens: Math.ceil(text.length / 4), totalTokens: 5 + Math.ceil(text.length / 4) },
    })
  })

  it('streams tool use: contentBlockStart{toolUse}, input deltas starting with "", stop, stopReason tool_use', async () => {
    const { frames } = await stream(userBody('cos 7', { toolConfig: { tools: [tool] } }))
    const t = types(frames)
    const start = t.indexOf('contentBlockStart')
    expect(start).toBeGreaterThan(0)
    expect(t[start - 1]).toBe('contentBlockStop')
    expect(frames[start - 1].payload.contentBlockIndex).toBe(0)
    expect(withoutP(frames[start].payload)).toEqual({ contentBlockIndex: 1, start: { toolUse: { name: 'cosine', toolUseId: expect.stringMatching(/^tooluse_/) } } })
    const inputs = frames.slice(start + 1).filter((f) => f.payload.delta?.toolUse).map((f) => f.payload.delta.toolUse.input)
    expect(inputs[0]).toBe('')
    expect(inputs.length).toBeGreaterThan(2)
    expect(JSON.parse(inputs.join(''))).toEqual({ x: 7 })
    expect(t.slice(-3)).toEqual(['contentBlockStop', 'messageStop', 'metadata'])
    expect(frames.at(-3)!.payload.contentBlockIndex).toBe(1)
    expect(frames.at(-2)!.payload.stopReason).toBe('tool_use')
  })

  it('has the same usage as Converse for the same request', async () => {
    const sim = createSimulator()
    const body = userBody('same question', { toolConfig: { tools: [tool] } })
    const conv = (await (await sim.fetch(bearer(NOVA, body), 'us-east-1')).json()) as any
    const { frames } = await stream(body, { sim })
    expect(frames.at(-1)!.payload.usage).toEqual(conv.usage)
  })

  it('truncates at maxTokens with stopReason max_tokens', async () => {
    const { frames } = await stream(userBody('hi', { inferenceConfig: { maxTokens: 2 } }))
    const text = frames.filter((f) => f.payload.delta?.text !== undefined).map((f) => f.payload.delta.text).join('')
    expect(text).toBe('Hello fr')
    expect(frames.at(-2)!.payload.stopReason).toBe('max_tokens')
    expect(frames.at(-1)!.payload.usage.outputTokens).toBe(2)
  })

  it('reports the prompt router trace in the metadata event', async () => {
    const { frames } = await stream(userBody('hi'), { modelId: ROUTER, region: 'us-west-2' })
    expect(frames.at(-1)!.payload.trace).toEqual({
      promptRouter: { invokedModelId: 'arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.meta.llama3-1-8b-instruct-v1:0' },
    })
  })

  it('makes long streams with responseChars', async () => {
    const { frames } = await stream(userBody(), { sim: createSimulator({ responseChars: 5000 }) })
    const text = frames.filter((f) => f.payload.delta?.text !== undefined).map((f) => f.payload.delta.text).join('')
    expect(text).toHaveLength(5000)
    expect(frames.length).toBeGreaterThan(300)
  })

  it('splits the bytes into the configured odd-sized chunks, across frame boundaries', async () => {
    const sizes = [1, 3, 7, 13, 5]
    const { chunks, frames } = await stream(userBody(), { sim: createSimulator({ chunkSizes: sizes }) })
    expect(types(frames).at(-1)).toBe('metadata')
    const lengths = chunks.map((c) => c.length)
    expect(lengths.slice(0, 10)).toEqual([...sizes, ...sizes])
    expect(lengths.slice(0, -1).every((n, i) => n === sizes[i % sizes.length])).toBe(true)
  })

  it('streams for real: the first frame is readable before later frames exist', async () => {
    const sim = createSimulator({ frameDelayMs: 100 })
    const res = await sim.fetch(bearer(NOVA, userBody(), undefined, true), 'us-east-1')
    const reader = res.body!.getReader()
    const t0 = Date.now()
    const first = await reader.read()
    expect(decodeFrames(first.value!)[0].headers[':event-type']).toBe('messageStart')
    expect(Date.now() - t0).toBeLessThan(80)
    const second = await reader.read()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95)
    expect(decodeFrames(second.value!)[0].headers[':event-type']).toBe('contentBlockDelta')
    await reader.cancel()
  })
})
