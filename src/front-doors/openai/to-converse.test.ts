import { describe, expect, it } from 'vitest'
import { toConverse, type Translated } from './to-converse'

const CLAUDE = 'us.anthropic.claude-sonnet-4-6'
const ok = (body: Record<string, unknown>, model = CLAUDE): Translated => {
  const t = toConverse({ model: 'pool', ...body }, model)
  if (!t.ok) throw new Error(`refused: ${t.refusal.message}`)
  return t.value
}
const refused = (body: Record<string, unknown>, model = CLAUDE) => {
  const t = toConverse({ model: 'pool', ...body }, model)
  if (t.ok) throw new Error('expected a refusal')
  return t.refusal
}
const user = (content: unknown) => ({ role: 'user', content })
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

describe('OpenAI request → Converse', () => {
  it('messages: system and developer to system blocks, parts to blocks, same-role turns merged', () => {
    const t = ok({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: [{ type: 'text', text: 'No jokes.' }] },
        user('Hi'),
        user([{ type: 'text', text: 'Look:' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }]),
        { role: 'assistant', content: 'Hello.' },
        user('Bye'),
      ],
    })
    expect(t.converse.system).toEqual([{ text: 'Be brief.' }, { text: 'No jokes.' }])
    expect(t.converse.messages).toEqual([
      { role: 'user', content: [{ text: 'Hi' }, { text: 'Look:' }, { image: { format: 'png', source: { bytes: PNG } } }] },
      { role: 'assistant', content: [{ text: 'Hello.' }] },
      { role: 'user', content: [{ text: 'Bye' }] },
    ])
    expect(t.stream).toBe(false)
  })

  it('images: data URLs and bare base64 (sniffed); remote URLs and other formats are refused', () => {
    const img = (url: string) => ({ messages: [user([{ type: 'image_url', image_url: { url } }])] })
    expect((ok(img(PNG)).converse.messages as any)[0].content[0].image.format).toBe('png')
    expect((ok(img('data:image/jpg;base64,/9j/4AAQ')).converse.messages as any)[0].content[0].image.format).toBe('jpeg')
    expect(refused(img('https://example.com/cat.png'))).toMatchObject({ param: 'messages[0].content[0].image_url', message: expect.stringContaining('data URL') })
    expect(refused(img('data:image/tiff;base64,AAAA')).message).toContain('tiff')
    expect(refused(img('data:image/png;base64,not base64!')).message).toContain('base64')
    expect(refused({ messages: [user([{ type: 'input_audio', input_audio: {} }])] }).param).toBe('messages[0].content[0].type')
  })

  it('inference parameters', () => {
    const t = ok({ messages: [user('x')], max_completion_tokens: 100, max_tokens: 5, temperature: 0.2, top_p: 0.9, stop: 'END', n: 1 })
    expect(t.converse.inferenceConfig).toEqual({ maxTokens: 100, temperature: 0.2, topP: 0.9, stopSequences: ['END'] })
    expect(ok({ messages: [user('x')], max_tokens: 7 }).converse.inferenceConfig).toEqual({ maxTokens: 7 })
    expect(refused({ messages: [user('x')], n: 2 }).param).toBe('n')
    expect(refused({ messages: [user('x')], temperature: 1.5 }).param).toBe('temperature')
    expect(refused({ messages: [user('x')], max_tokens: 0 }).param).toBe('max_tokens')
    expect(refused({ messages: [user('x')], stop: ['a', 'b', 'c', 'd', 'e'] }).param).toBe('stop')
    expect(refused({ messages: [user('x')], logprobs: true }).param).toBe('logprobs')
    expect(refused({ messages: [user('x')], frequency_penalty: 0.5 }).param).toBe('frequency_penalty')
    expect(ok({ messages: [user('x')], frequency_penalty: 0, seed: 3, store: false, parallel_tool_calls: true }).converse.inferenceConfig).toBeUndefined()
    expect(refused({ messages: [user('x')], top_k: 5 })).toEqual({ message: 'Unrecognized request argument supplied: top_k', param: 'top_k' })
  })

  it('tools, tool_choice, a tool-call round trip with stable ids', () => {
    const weather = { type: 'function', function: { name: 'weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }
    const t = ok({
      tools: [weather],
      tool_choice: 'required',
      messages: [
        user('Weather in Paris and Rome?'),
        { role: 'assistant', content: null, tool_calls: [
          { id: 'tooluse_abc', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call abc/2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ] },
        { role: 'tool', tool_call_id: 'tooluse_abc', content: 'Sunny' },
        { role: 'tool', tool_call_id: 'call abc/2', content: [{ type: 'text', text: 'Rain' }] },
      ],
    })
    expect(t.converse.toolConfig).toEqual({
      tools: [{ toolSpec: { name: 'weather', description: 'Weather in a city', inputSchema: { json: weather.function.parameters } } }],
      toolChoice: { any: {} },
    })
    const [, assistant, results] = t.converse.messages as any[]
    expect(assistant.content.map((b: any) => b.toolUse.toolUseId)).toEqual(['tooluse_abc', 'call_abc_2'])
    expect(results).toEqual({ role: 'user', content: [
      { toolResult: { toolUseId: 'tooluse_abc', content: [{ text: 'Sunny' }] } },
      { toolResult: { toolUseId: 'call_abc_2', content: [{ text: 'Rain' }] } },
    ] })
    expect((ok({ tools: [weather], tool_choice: { type: 'function', function: { name: 'weather' } }, messages: [user('x')] }).converse.toolConfig as any).toolChoice).toEqual({ tool: { name: 'weather' } })
    expect((ok({ tools: [weather], tool_choice: 'auto', messages: [user('x')] }).converse.toolConfig as any).toolChoice).toEqual({ auto: {} })
    expect(ok({ tools: [weather], tool_choice: 'none', messages: [user('x')] }).converse.toolConfig).toBeUndefined()
    expect(refused({ tools: [weather], tool_choice: { type: 'function', function: { name: 'other' } }, messages: [user('x')] }).param).toBe('tool_choice')
    expect(refused({ messages: [user('x'), { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }).param).toBe('messages[1].tool_calls[0].function.arguments')
  })

  it('response_format: a forced tool with the schema, where the model can be forced; refused where not', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }
    const t = ok({ messages: [user('x')], response_format: { type: 'json_schema', json_schema: { name: 'reply', schema } } })
    expect(t.jsonTool).toBe('reply')
    expect(t.converse.toolConfig).toEqual({ tools: [{ toolSpec: { name: 'reply', description: expect.any(String), inputSchema: { json: schema } } }], toolChoice: { tool: { name: 'reply' } } })
    expect(ok({ messages: [user('x')], response_format: { type: 'json_object' } }, 'amazon.nova-pro-v1:0').jsonTool).toBe('json_response')
    expect(ok({ messages: [user('x')], response_format: { type: 'text' } }).jsonTool).toBeUndefined()
    expect(refused({ messages: [user('x')], response_format: { type: 'json_object' } }, 'meta.llama3-70b-instruct-v1:0').param).toBe('response_format')
    expect(refused({ messages: [user('x')], response_format: { type: 'json_object' }, tools: [{ type: 'function', function: { name: 'f' } }] }).param).toBe('response_format')
  })

  it('reasoning_effort: Claude thinking budget, Nova 2 reasoning, refused for models that do not think', () => {
    expect(ok({ messages: [user('x')], reasoning_effort: 'medium' }).converse.additionalModelRequestFields).toEqual({ thinking: { type: 'enabled', budget_tokens: 4096 } })
    expect(ok({ messages: [user('x')], reasoning_effort: 'high' }, 'us.amazon.nova-2-lite-v1:0').converse.additionalModelRequestFields).toEqual({ reasoningConfig: { type: 'enabled', maxReasoningEffort: 'high' } })
    expect(ok({ messages: [user('x')], reasoning_effort: 'minimal' }).converse.additionalModelRequestFields).toBeUndefined()
    expect(refused({ messages: [user('x')], reasoning_effort: 'low' }, 'amazon.nova-micro-v1:0').param).toBe('reasoning_effort')
    expect(refused({ messages: [user('x')], reasoning_effort: 'high', max_tokens: 2000 }).param).toBe('max_tokens')
    expect(refused({ messages: [user('x')], reasoning_effort: 'low', temperature: 0.3 }).param).toBe('temperature')
  })

  it('stream, include_usage, user and metadata', () => {
    const t = ok({ messages: [user('x')], stream: true, stream_options: { include_usage: true }, user: 'u-42', metadata: { team: 'search' } })
    expect(t).toMatchObject({ stream: true, includeUsage: true, endUser: 'u-42', tags: { team: 'search' } })
    expect(ok({ messages: [user('x')], stream_options: { include_usage: true } }).includeUsage).toBe(false)
    expect(refused({ messages: [user('x')], metadata: { a: 1 } }).param).toBe('metadata.a')
  })

  it('refuses what Converse cannot take, naming the parameter', () => {
    expect(refused({ messages: [] }).param).toBe('messages')
    expect(refused({ messages: [{ role: 'system', content: 'only system' }] }).param).toBe('messages')
    expect(refused({ messages: [{ role: 'assistant', content: 'hi' }, user('x')] }).message).toContain('first non-system message')
    expect(refused({ messages: [{ role: 'wizard', content: 'x' }] }).param).toBe('messages[0].role')
    expect(refused({ messages: [{ role: 'tool', content: 'x' }] }).param).toBe('messages[0].tool_call_id')
  })
})
