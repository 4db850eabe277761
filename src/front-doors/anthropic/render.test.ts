/** Anthropic SSE from an InvokeModelWithResponseStream: each chunk's event as it came, errors in Anthropic's shape. */
import { describe, expect, it } from 'vitest'
import { encodeEventFrame, EventStreamFramer } from '../../wire/eventstream'
import { utf8ToBase64 } from '../../wire/base64'
import type { StreamStart } from '../../engine/attempt'
import { converseEventStream } from '../../engine/converse-stream'
import { RequestTrace } from '../../engine/trace'
import { parseRouterConfig } from '../../config/schema'
import { renderAnthropic } from './render'

const pool = parseRouterConfig({ pools: { p: { deployments: [{ id: 'a', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1' }] } } }).pools.p
const events = [
  { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude', usage: { input_tokens: 12, output_tokens: 1 } } },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello “world”\n' } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } },
  { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 12, outputTokenCount: 5, invocationLatency: 100, firstByteLatency: 50 } },
]
const chunk = (e: unknown) => encodeEventFrame('chunk', JSON.stringify({ bytes: utf8ToBase64(JSON.stringify(e)) }))

function start(list: unknown[], committed = 2): StreamStart {
  const framer = new EventStreamFramer()
  const frames = list.slice(0, committed).flatMap((e) => framer.push(chunk(e)))
  let i = committed
  const body = new ReadableStream<Uint8Array>({ pull: (c) => (i < list.length ? c.enqueue(chunk(list[i++])) : c.close()) })
  return { ok: true, kind: 'stream', frames, framer, reader: body.getReader(), abort: new AbortController(), latencyMs: 1 }
}

/** The SSE events (comments, which clients skip, left out). */
function parse(text: string) {
  return text
    .split('\n\n')
    .filter((block) => block && !block.startsWith(':'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n')
      return { event: eventLine.replace('event: ', ''), data: JSON.parse(dataLine.replace('data: ', '')) }
    })
}

describe('Anthropic SSE from InvokeModel chunks', () => {
  it('passes every event on, in order, named by its type; usage from the invocation metrics', async () => {
    let usage: unknown
    const s = converseEventStream(start(events), 5000, 10, (summary) => (usage = summary.usage), true)
    const res = renderAnthropic({ kind: 'streaming', events: s, trace: new RequestTrace(pool, 'invoke-stream', 'p') })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const text = await res.text()
    const got = parse(text)
    expect(got.map((e) => e.event)).toEqual(events.map((e) => e.type))
    // After the last event, a comment with the usage (clients skip it; a stream has no room for a header).
    expect(text).toMatch(/event: message_stop\ndata: [^\n]+\n\n: x-router-accounting \{"usage":\{"inputTokens":12,"outputTokens":5\}\}\n\n$/)
    expect(got.map((e) => e.data)).toEqual(events)
    expect(usage).toEqual({ inputTokens: 12, outputTokens: 5 })
  })

  it('a stream without its invocation metrics ends with an Anthropic error event', async () => {
    const s = converseEventStream(start(events.slice(0, 4)), 5000, 10, () => {}, true)
    const got = parse(await renderAnthropic({ kind: 'streaming', events: s, trace: new RequestTrace(pool, 'invoke-stream', 'p') }).text())
    const last = got[got.length - 1]
    expect(last.event).toBe('error')
    expect(last.data).toEqual({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('truncated') } })
  })

  it('refusals in Anthropic’s shape with Retry-After', async () => {
    const res = renderAnthropic({ kind: 'rejected', cause: 'capacity', status: 429, errorType: 'ThrottlingException', message: 'Too many requests', retryAfterMs: 2500, trace: new RequestTrace(pool, 'invoke', 'p') })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('3')
    expect(await res.json()).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Too many requests' } })
  })
})
