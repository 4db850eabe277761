/** Converse → Anthropic Messages, on the real captured Bedrock streams. */
import { describe, expect, it } from 'vitest'
import { fixture } from '../../../test/support/fixtures'
import { EventStreamFramer, type Frame } from '../../wire/eventstream'
import { anthropicStreamRenderer, messageFromConverse } from './from-converse'
import { messagesToConverse } from './to-converse'

const decoder = new TextDecoder()
const frames = (name: string): Frame[] => new EventStreamFramer().push(fixture(name).bytes)
const json = (f: Frame) => JSON.parse(decoder.decode(f.payload))

function events(list: Frame[]) {
  const r = anthropicStreamRenderer({ id: 'msg_1', model: 'm' })
  let text = ''
  for (const f of list) {
    const b = r.event(f)
    if (b) text += decoder.decode(b)
  }
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const [e, d] = block.split('\n')
      const data = JSON.parse(d.slice('data: '.length))
      expect(e.slice('event: '.length)).toBe(data.type)
      return data
    })
}

describe('Converse stream → Anthropic SSE', () => {
  for (const name of ['vercel-issue-18994-live-sonnet-4-6', 'envoy-ai-gateway-converse-stream-tooluse']) {
    it(`${name}: a well-formed event sequence with the same text, tool input, stop reason and usage`, () => {
      const list = frames(name)
      const got = events(list)
      expect(got[0].type).toBe('message_start')
      expect(got.at(-1).type).toBe('message_stop')
      expect(got.at(-2).type).toBe('message_delta')
      const open = new Set<number>()
      let text = ''
      let input = ''
      for (const e of got) {
        if (e.type === 'content_block_start') open.add(e.index)
        if (e.type === 'content_block_delta') {
          expect(open.has(e.index)).toBe(true)
          text += e.delta.text ?? ''
          input += e.delta.partial_json ?? ''
        }
        if (e.type === 'content_block_stop') open.delete(e.index)
      }
      expect(open.size).toBe(0)
      const deltas = list.filter((f) => f.eventType === 'contentBlockDelta').map(json)
      expect(text).toBe(deltas.map((d) => d.delta.text ?? '').join(''))
      expect(input).toBe(deltas.map((d) => d.delta.toolUse?.input ?? '').join(''))
      const meta = json(list.find((f) => f.eventType === 'metadata')!)
      const stop = json(list.find((f) => f.eventType === 'messageStop')!)
      expect(got.at(-2).delta.stop_reason).toBe(stop.stopReason)
      expect(got.at(-2).usage.output_tokens).toBe(meta.usage.outputTokens)
    })
  }
})

describe('Converse answer → Anthropic message, and back', () => {
  it('text, tool use and reasoning blocks; stop reason; usage', () => {
    const msg = messageFromConverse(
      {
        output: { message: { content: [{ reasoningContent: { reasoningText: { text: 'hm', signature: 's' } } }, { text: 'Hi' }, { toolUse: { toolUseId: 't1', name: 'f', input: { a: 1 } } }] } },
        stopReason: 'tool_use',
        usage: { inputTokens: 5, outputTokens: 7, cacheReadInputTokens: 2 },
      },
      { id: 'msg_x', model: 'amazon.nova-pro-v1:0' },
    )
    expect(msg).toEqual({
      id: 'msg_x',
      type: 'message',
      role: 'assistant',
      model: 'amazon.nova-pro-v1:0',
      content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, { type: 'text', text: 'Hi' }, { type: 'tool_use', id: 't1', name: 'f', input: { a: 1 } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 7, cache_creation_input_tokens: 0, cache_read_input_tokens: 2 },
    })
  })

  it('a Messages request as Converse: system, cache_control as cachePoint, images, tool round trip, tool_choice', () => {
    const t = messagesToConverse(
      {
        model: 'nova',
        max_tokens: 50,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
        tools: [{ name: 'f', input_schema: { type: 'object' } }],
        tool_choice: { type: 'any' },
        messages: [
          { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'done', is_error: true }] },
        ],
      },
      'amazon',
    )
    if (!t.ok) throw new Error(t.message)
    expect(t.body).toEqual({
      system: [{ text: 'Be brief.' }, { cachePoint: { type: 'default', ttl: '1h' } }],
      messages: [
        { role: 'user', content: [{ image: { format: 'png', source: { bytes: 'iVBORw0KGgo=' } } }, { text: 'Hi' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'f', input: {} } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ text: 'done' }], status: 'error' } }] },
      ],
      inferenceConfig: { maxTokens: 50 },
      toolConfig: { tools: [{ toolSpec: { name: 'f', inputSchema: { json: { type: 'object' } } } }], toolChoice: { any: {} } },
    })
    expect(messagesToConverse({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 1024 } }, 'amazon')).toMatchObject({ ok: false, message: expect.stringContaining('thinking') })
    expect(messagesToConverse({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x' } }] }] }, 'amazon')).toMatchObject({ ok: false, message: expect.stringContaining('base64') })
  })
})
