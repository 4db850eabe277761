/**
 * The OpenAI chunk renderer on real captured Bedrock streams (test/fixtures/bedrock-eventstream): the chunks, put
 * back together the way an OpenAI client does, give the same text, tool calls, finish reason and usage as the
 * Converse events themselves.
 */
import { describe, expect, it } from 'vitest'
import { fixture } from '../../../test/support/fixtures'
import { encodeEventFrame, EventStreamFramer, type Frame } from '../../wire/eventstream'
import { chunkRenderer } from './chunks'

const frames = (name: string): Frame[] => {
  const framer = new EventStreamFramer()
  const out = framer.push(fixture(name).bytes)
  framer.end()
  return out
}
const decoder = new TextDecoder()
const json = (f: Frame) => JSON.parse(decoder.decode(f.payload))

/** Renders every frame, then the clean end, and parses the SSE `data:` lines. */
function render(list: Frame[], opts: { includeUsage?: boolean; jsonTool?: string } = {}) {
  const r = chunkRenderer({ id: 'chatcmpl-1', created: 1700000000, model: 'm', includeUsage: opts.includeUsage ?? false, jsonTool: opts.jsonTool })
  let text = ''
  for (const f of list) {
    const bytes = r.event(f)
    if (bytes) text += decoder.decode(bytes)
  }
  text += decoder.decode(r.end!()!)
  const events = text.split('\n\n').filter(Boolean)
  for (const e of events) expect(e.startsWith('data: ')).toBe(true)
  const data = events.map((e) => e.slice('data: '.length))
  return { done: data[data.length - 1] === '[DONE]', chunks: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)) }
}

/** What an OpenAI client reconstructs from chunks. */
function assemble(chunks: any[]) {
  let role: string | undefined
  let content = ''
  let finish: string | undefined
  let usage: any
  const calls: Array<{ id?: string; name?: string; arguments: string }> = []
  for (const c of chunks) {
    expect(c.object).toBe('chat.completion.chunk')
    expect(c.id).toBe('chatcmpl-1')
    if (c.usage) usage = c.usage
    for (const choice of c.choices) {
      const d = choice.delta
      if (d.role) role = d.role
      if (d.content) content += d.content
      for (const t of d.tool_calls ?? []) {
        calls[t.index] ??= { arguments: '' }
        if (t.id) calls[t.index].id = t.id
        if (t.function?.name) calls[t.index].name = t.function.name
        calls[t.index].arguments += t.function?.arguments ?? ''
      }
      if (choice.finish_reason) finish = choice.finish_reason
    }
  }
  return { role, content, finish, usage, calls }
}

describe('OpenAI chunks from real Bedrock streams', () => {
  it('text: role first, every text delta in order, finish_reason stop, [DONE]', () => {
    const list = frames('vercel-issue-18994-live-sonnet-4-6')
    const expected = list.filter((f) => f.eventType === 'contentBlockDelta').map((f) => json(f).delta.text ?? '').join('')
    const { done, chunks } = render(list)
    expect(done).toBe(true)
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' })
    const got = assemble(chunks)
    expect(got.role).toBe('assistant')
    expect(got.content).toBe(expected)
    expect(expected.length).toBeGreaterThan(0)
    expect(got.finish).toBe('stop')
    expect(got.usage).toBeUndefined()
  })

  it('include_usage: one last chunk with no choices and the usage, cached tokens counted in prompt_tokens', () => {
    const list = frames('vercel-issue-18994-live-sonnet-4-6')
    const meta = json(list.find((f) => f.eventType === 'metadata')!)
    const { chunks } = render(list, { includeUsage: true })
    const last = chunks[chunks.length - 1]
    expect(last.choices).toEqual([])
    const cached = meta.usage.cacheReadInputTokens ?? 0
    const prompt = meta.usage.inputTokens + cached + (meta.usage.cacheWriteInputTokens ?? 0)
    expect(last.usage).toEqual({ prompt_tokens: prompt, completion_tokens: meta.usage.outputTokens, total_tokens: prompt + meta.usage.outputTokens, prompt_tokens_details: { cached_tokens: cached } })
  })

  it('tool use: a tool call with the Bedrock id, its name and the whole arguments JSON; finish_reason tool_calls', () => {
    const list = frames('envoy-ai-gateway-converse-stream-tooluse')
    const start = json(list.find((f) => f.eventType === 'contentBlockStart')!).start.toolUse
    const input = list
      .filter((f) => f.eventType === 'contentBlockDelta')
      .map((f) => json(f).delta.toolUse?.input ?? '')
      .join('')
    const got = assemble(render(list).chunks)
    expect(got.calls).toEqual([{ id: start.toolUseId, name: start.name, arguments: input }])
    expect(() => JSON.parse(got.calls[0].arguments)).not.toThrow()
    expect(got.finish).toBe('tool_calls')
    expect(got.content.length).toBeGreaterThan(0) // the text before the call
  })

  it('response_format: the forced tool streams as the content (text around it dropped), and finishes as stop', () => {
    const list = frames('envoy-ai-gateway-converse-stream-tooluse')
    const start = json(list.find((f) => f.eventType === 'contentBlockStart')!).start.toolUse
    const text = list.filter((f) => f.eventType === 'contentBlockDelta').map((f) => json(f).delta.toolUse?.input ?? '').join('')
    const got = assemble(render(list, { jsonTool: start.name }).chunks)
    expect(got.calls).toEqual([])
    expect(got.content).toBe(text)
    expect(got.finish).toBe('stop')
  })

  it('an in-stream exception becomes an error event in OpenAI shape', () => {
    const list = frames('vercel-model-stream-error-exception')
    const exception = list.find((f) => f.messageType === 'exception')!
    const r = chunkRenderer({ id: 'x', created: 1, model: 'm', includeUsage: false })
    const out = decoder.decode(r.error({ exception: 'modelStreamErrorException', status: 500, message: JSON.parse(decoder.decode(exception.payload)).message, frame: exception, result: { class: 'unavailable', status: 424 } }))
    expect(out.startsWith('data: ')).toBe(true)
    const body = JSON.parse(out.slice(6))
    expect(body.error).toMatchObject({ type: 'server_error', code: 'modelStreamErrorException', param: null })
    expect(body.error.message.length).toBeGreaterThan(0)
    expect(out).not.toContain('[DONE]')
  })

  it('the byte-copy fast path renders exactly what parsing would, for tricky strings too', () => {
    const texts = ['plain', 'quote " and \\ backslash', 'line\nbreak\r\n', 'tab\t', 'unicode ’ é 中文 🎉', '\u2028\u2029', '</script>', '{"json":"inside"}', '']
    const frame = (payload: unknown) => {
      const framer = new EventStreamFramer()
      return framer.push(encodeEventFrame('contentBlockDelta', JSON.stringify(payload)))[0]
    }
    const start = { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tooluse_x', name: 'f' } } }
    for (const text of texts) {
      for (const [fast, slow] of [
        [{ contentBlockIndex: 0, delta: { text }, p: 'abc' }, { p: 'abc', delta: { text }, contentBlockIndex: 0 }],
        [{ contentBlockIndex: 1, delta: { toolUse: { input: text } }, p: 'ab' }, { delta: { toolUse: { input: text } }, contentBlockIndex: 1 }],
      ]) {
        const render = (payload: unknown) => {
          const r = chunkRenderer({ id: 'c', created: 1, model: 'm', includeUsage: false })
          r.event(new EventStreamFramer().push(encodeEventFrame('contentBlockStart', JSON.stringify(start)))[0])
          return decoder.decode(r.event(frame(payload))!)
        }
        const a = render(fast)
        expect(a).toBe(render(slow))
        const parsed = JSON.parse(a.slice(6))
        const d = parsed.choices[0].delta
        expect(d.content ?? d.tool_calls[0].function.arguments).toBe(text)
        expect(a.endsWith('\n\n')).toBe(true)
        expect(a.slice(0, -2)).not.toMatch(/[\r\n]/)
      }
    }
  })
})
