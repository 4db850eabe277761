/**
 * The committed stream with renderers that skip events (as the OpenAI one does for contentBlockStop, signatures,
 * metadata without include_usage), upstream delivering one frame per chunk as Bedrock does: the client's stream
 * must still reach its end. (A pull that enqueues nothing is not called again: the stream would hang.)
 */
import { describe, expect, it } from 'vitest'
import { encodeEventFrame, EventStreamFramer, type Frame } from '../wire/eventstream'
import type { StreamStart } from './attempt'
import { converseEventStream, type StreamRenderer, type StreamSummary } from './converse-stream'

const event = (type: string, payload: unknown) => encodeEventFrame(type, JSON.stringify(payload))

function start(chunks: Uint8Array[]): StreamStart {
  let i = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++])
      else controller.close()
    },
  })
  const framer = new EventStreamFramer()
  const committed: Frame[] = framer.push(event('messageStart', { role: 'assistant' }))
  committed.push(...framer.push(event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'a' } })))
  return { ok: true, kind: 'stream', frames: committed, framer, reader: body.getReader(), abort: new AbortController(), latencyMs: 1 }
}

const textOnly: StreamRenderer = {
  event: (f) => (f.eventType === 'contentBlockDelta' ? new TextEncoder().encode(JSON.parse(new TextDecoder().decode(f.payload)).delta.text) : undefined),
  error: (f) => new TextEncoder().encode(`!${f.exception}`),
  end: () => new TextEncoder().encode('$'),
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const text = await Promise.race([new Response(stream).text(), new Promise<string>((_, reject) => setTimeout(() => reject(new Error('the stream hung')), 2000))])
  return text
}

describe('committed stream with a renderer that skips events', () => {
  it('reads on past frames that render to nothing, one frame per upstream chunk, to the clean end', async () => {
    const chunks = [
      event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'b' } }),
      event('contentBlockStop', { contentBlockIndex: 0 }),
      event('contentBlockStop', { contentBlockIndex: 0 }),
      event('messageStop', { stopReason: 'end_turn' }),
      event('metadata', { usage: { inputTokens: 3, outputTokens: 2 } }),
    ]
    let summary: StreamSummary | undefined
    const text = await readAll(converseEventStream(start(chunks), 5000, 3, (s) => (summary = s)).render(textOnly))
    expect(text).toBe('ab$')
    expect(summary).toMatchObject({ result: { class: 'success' }, usage: { inputTokens: 3, outputTokens: 2 }, cancelled: false })
  })

  it('a truncation after skipped frames still ends with the renderer’s error', async () => {
    const chunks = [event('contentBlockStop', { contentBlockIndex: 0 }), event('messageStop', { stopReason: 'end_turn' })]
    let summary: StreamSummary | undefined
    const text = await readAll(converseEventStream(start(chunks), 5000, 3, (s) => (summary = s)).render(textOnly))
    expect(text).toBe('a!internalServerException')
    expect(summary?.result.class).toBe('network')
  })

  it('renders once', () => {
    const s = converseEventStream(start([]), 5000, 3, () => {})
    s.render(textOnly)
    expect(() => s.render(textOnly)).toThrow(/once/)
  })
})
