import { describe, expect, it } from 'vitest'
import { DOCUMENT_TOKENS, IMAGE_TOKENS, estimateRequest } from './estimate'

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
