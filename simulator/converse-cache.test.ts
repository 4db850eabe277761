/** Converse prompt caching: `cachePoint` blocks, a breakpoint that moves with the conversation, scope, streams. */
import { describe, expect, it } from 'vitest'
import { createSimulator } from './handler'
import { CLAUDE, bearer, decodeFrames, errorTypeOf, signed } from './test-helpers'

const SYSTEM = 's'.repeat(800) // 200 tokens
type Message = { role: 'user' | 'assistant'; content: Array<Record<string, unknown>> }
const text = (t: string) => ({ text: t })
const point = (ttl?: '1h') => ({ cachePoint: { type: 'default', ...(ttl ? { ttl } : {}) } })

/** An agent's turn: system with a breakpoint, the history, and a breakpoint after the newest message. */
function turn(history: Message[], ttl?: '1h') {
  const messages = history.map((m, i) => (i === history.length - 1 ? { ...m, content: [...m.content, point(ttl)] } : m))
  return JSON.stringify({ system: [text(SYSTEM), point(ttl)], messages, inferenceConfig: { maxTokens: 50 } })
}

async function converse(sim: ReturnType<typeof createSimulator>, body: string, opts: { region?: string; sigv4?: boolean } = {}) {
  const req = opts.sigv4 ? await signed(CLAUDE, body, { region: opts.region }) : bearer(CLAUDE, body)
  const res = await sim.fetch(req, opts.region ?? 'us-east-1')
  return { res, json: (await res.json()) as any }
}

describe('Converse prompt caching (cachePoint)', () => {
  it('writes each breakpoint’s prefix, then a conversation that moves its last breakpoint reads the previous turn', async () => {
    const sim = createSimulator()
    const history: Message[] = [{ role: 'user', content: [text('u'.repeat(400))] }] // 100 tokens
    const first = await converse(sim, turn(history))
    expect(first.res.status).toBe(200)
    expect(first.json.usage).toEqual({ inputTokens: 0, outputTokens: expect.any(Number), totalTokens: 300 + first.json.usage.outputTokens, cacheReadInputTokens: 0, cacheWriteInputTokens: 300 })

    history.push({ role: 'assistant', content: [text('a'.repeat(40))] }, { role: 'user', content: [text('v'.repeat(400))] }) // 10 + 100
    const second = await converse(sim, turn(history))
    // The old breakpoint (after the first user message) is a block boundary within the look-back: read, 300.
    expect(second.json.usage).toMatchObject({ inputTokens: 0, cacheReadInputTokens: 300, cacheWriteInputTokens: 110 })

    // Another conversation with the same system prompt reads only the system prefix.
    const other = await converse(sim, turn([{ role: 'user', content: [text('w'.repeat(400))] }]))
    expect(other.json.usage).toMatchObject({ cacheReadInputTokens: 200, cacheWriteInputTokens: 100 })
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ cacheReadInputTokens: 500, cacheWriteInputTokens: 510 })
  })

  it('caches per account, region and model, and per TTL', async () => {
    const sim = createSimulator()
    const body = turn([{ role: 'user', content: [text('q'.repeat(40))] }])
    expect((await converse(sim, body)).json.usage.cacheWriteInputTokens).toBe(210)
    expect((await converse(sim, body)).json.usage.cacheReadInputTokens).toBe(210)
    expect((await converse(sim, body, { region: 'us-west-2' })).json.usage.cacheReadInputTokens).toBe(0)
    // Signed with an access key rather than the API key: another account.
    expect((await converse(sim, body, { sigv4: true })).json.usage).toMatchObject({ cacheReadInputTokens: 0, cacheWriteInputTokens: 210 })
    expect((await converse(sim, body, { sigv4: true })).json.usage.cacheReadInputTokens).toBe(210)
    const oneHour = turn([{ role: 'user', content: [text('q'.repeat(40))] }], '1h')
    expect((await converse(sim, oneHour)).json.usage).toMatchObject({ cacheReadInputTokens: 0, cacheWriteInputTokens: 210 })
  })

  it('reports the split in the stream’s metadata event', async () => {
    const sim = createSimulator()
    const body = turn([{ role: 'user', content: [text('q'.repeat(40))] }])
    await converse(sim, body)
    const res = await sim.fetch(bearer(CLAUDE, body, undefined, true), 'us-east-1')
    const frames = decodeFrames(new Uint8Array(await res.arrayBuffer()))
    const metadata = frames.find((f) => f.headers[':event-type'] === 'metadata')!
    expect(metadata.payload.usage).toMatchObject({ inputTokens: 0, cacheReadInputTokens: 210, cacheWriteInputTokens: 0 })
  })

  it('plain requests keep the three usage fields', async () => {
    const sim = createSimulator()
    const { json } = await converse(sim, JSON.stringify({ messages: [{ role: 'user', content: [text('hello')] }] }))
    expect(Object.keys(json.usage).sort()).toEqual(['inputTokens', 'outputTokens', 'totalTokens'])
  })

  it('rejects a bad cachePoint and more than four, as Bedrock does', async () => {
    const sim = createSimulator()
    const bad = await sim.fetch(bearer(CLAUDE, JSON.stringify({ messages: [{ role: 'user', content: [text('x'), { cachePoint: { type: 'forever' } }] }] })), 'us-east-1')
    expect(bad.status).toBe(400)
    expect(errorTypeOf(bad)).toBe('ValidationException')
    const five = Array.from({ length: 5 }, (_, i) => [text(`p${i}`), point()]).flat()
    const many = await sim.fetch(bearer(CLAUDE, JSON.stringify({ messages: [{ role: 'user', content: five }] })), 'us-east-1')
    expect(many.status).toBe(400)
    expect(((await many.json()) as any).message).toMatch(/cache checkpoints/)
  })
})
