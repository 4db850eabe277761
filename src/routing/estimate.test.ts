import { describe, expect, it } from 'vitest'
import { DOCUMENT_TOKENS, IMAGE_TOKENS, estimateNativeRequest, estimateRequest } from './estimate'

describe('estimateRequest', () => {
  it('counts about a token per 4 characters of text in messages and system', () => {
    const text = 'x'.repeat(4000)
    const e = estimateRequest({ messages: [{ role: 'user', content: [{ text }] }], system: [{ text }] }, false)
    expect(e.inputTokens).toBeGreaterThanOrEqual(2000)
    expect(e.inputTokens).toBeLessThan(2050) // structure adds a little
    expect(e.stream).toBe(false)
    expect(e.maxTokens).toBeUndefined()
  })

  it('reads maxTokens from inferenceConfig', () => {
    expect(estimateRequest({ messages: [], inferenceConfig: { maxTokens: 512 } }, true)).toMatchObject({ maxTokens: 512, stream: true })
    expect(estimateRequest({ inferenceConfig: { maxTokens: 'many' } }, true).maxTokens).toBeUndefined()
    expect(estimateRequest({ inferenceConfig: { maxTokens: -1 } }, true).maxTokens).toBeUndefined()
  })

  it('counts tool specs, tool uses and tool results', () => {
    const schema = { type: 'object', properties: { city: { type: 'string', description: 'd'.repeat(400) } } }
    const withTools = estimateRequest(
      {
        messages: [
          { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'weather', input: { city: 'c'.repeat(400) } } }] },
          { role: 'user', content: [{ toolResult: { toolUseId: 't1', content: [{ json: { temp: 'y'.repeat(400) } }, { text: 'z'.repeat(400) }] } }] },
        ],
        toolConfig: { tools: [{ toolSpec: { name: 'weather', description: 'w'.repeat(400), inputSchema: { json: schema } } }] },
      },
      false,
    )
    // 5 × 400 characters of values, plus names and keys
    expect(withTools.inputTokens).toBeGreaterThanOrEqual(500)
    expect(withTools.inputTokens).toBeLessThan(600)
  })

  it('uses fixed amounts for images and binary documents, size for text documents; ignores bytes', () => {
    const image = { image: { format: 'png', source: { bytes: 'A'.repeat(100_000) } } }
    const pdf = { document: { format: 'pdf', name: 'doc', source: { bytes: 'A'.repeat(100_000) } } }
    const txt = { document: { format: 'txt', name: 'notes', source: { bytes: 'A'.repeat(8000) } } }
    const e = estimateRequest({ messages: [{ role: 'user', content: [image, pdf, txt] }] }, false)
    expect(e.inputTokens).toBeGreaterThanOrEqual(IMAGE_TOKENS + DOCUMENT_TOKENS + 1500)
    expect(e.inputTokens).toBeLessThan(IMAGE_TOKENS + DOCUMENT_TOKENS + 1500 + 50)
  })

  it('ignores parts of the body that are not model input', () => {
    const a = estimateRequest({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }, false)
    const b = estimateRequest(
      { messages: [{ role: 'user', content: [{ text: 'hi' }] }], requestMetadata: { k: 'v'.repeat(10_000) }, modelId: 'x'.repeat(1000) },
      false,
    )
    expect(b.inputTokens).toBe(a.inputTokens)
  })

  it('never throws on odd but valid JSON, including very deep nesting', () => {
    for (const body of [null, 42, 'text', [], {}, { messages: 'x' }, { messages: [null, 1, 'a', { content: {} }] }, { system: { text: 5 } }]) {
      expect(() => estimateRequest(body, false)).not.toThrow()
    }
    let deep: unknown = 'leaf'
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(estimateRequest({ messages: deep }, false).inputTokens).toBe(1)
  })

  it('is fast on a large request', () => {
    const messages = Array.from({ length: 2000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: [{ text: 'word '.repeat(200) }] }))
    const started = performance.now()
    const e = estimateRequest({ messages }, false)
    const elapsed = performance.now() - started
    expect(e.inputTokens).toBeGreaterThan(500_000)
    expect(elapsed).toBeLessThan(200)
  })
})

describe('estimateNativeRequest (InvokeModel bodies)', () => {
  it('counts the text of an Anthropic Messages body, skips base64, fixed amounts for images; reads max_tokens; carries the family', () => {
    const text = 'x'.repeat(400)
    const e = estimateNativeRequest(
      {
        anthropic_version: 'bedrock-2023-05-31',
        max_tokens: 300,
        system: text,
        messages: [{ role: 'user', content: [{ type: 'text', text, cache_control: { type: 'ephemeral' } }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(100_000) } }] }],
      },
      true,
      'anthropic',
    )
    expect(e.family).toBe('anthropic')
    expect(e.stream).toBe(true)
    expect(e.maxTokens).toBe(300)
    expect(e.inputTokens).toBeGreaterThanOrEqual(200 + IMAGE_TOKENS)
    expect(e.inputTokens).toBeLessThan(200 + IMAGE_TOKENS + 100)
  })

  it('reads Nova’s inferenceConfig.maxTokens and Llama’s max_gen_len', () => {
    expect(estimateNativeRequest({ messages: [], inferenceConfig: { maxTokens: 77 } }, false).maxTokens).toBe(77)
    expect(estimateNativeRequest({ prompt: 'hi', max_gen_len: 55 }, false).maxTokens).toBe(55)
  })
})
