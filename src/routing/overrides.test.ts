import { describe, expect, it } from 'vitest'
import { adaptRequestFor, familyOf, resolveOverride } from './overrides'
import { deployment } from './test-helpers'

const claude = deployment('claude', { modelId: 'us.anthropic.claude-sonnet-4-6', family: 'anthropic' })
const haiku = deployment('haiku', { modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', family: 'anthropic' })
const nova = deployment('nova', { modelId: 'us.amazon.nova-pro-v1:0', family: 'amazon' })
const opaque = deployment('app', { modelId: 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x', family: 'unknown' })

function body() {
  return {
    messages: [
      { role: 'user', content: [{ text: 'What is 2+2?' }] },
      {
        role: 'assistant',
        content: [{ reasoningContent: { reasoningText: { text: 'think', signature: 'sig' } } }, { text: '4' }],
      },
      { role: 'user', content: [{ text: 'And 3+3?' }] },
    ],
    inferenceConfig: { maxTokens: 2000 },
    additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 }, top_k: 5 },
    additionalModelResponseFieldPaths: ['/stop_sequence'],
  }
}

describe('adaptRequestFor', () => {
  it('drops Anthropic-only fields and signed reasoning when failing over to another family', () => {
    const input = body()
    const out = adaptRequestFor(input, claude, nova) as ReturnType<typeof body>
    expect(out).not.toHaveProperty('additionalModelRequestFields')
    expect(out).not.toHaveProperty('additionalModelResponseFieldPaths')
    expect(out.messages[1]).toEqual({ role: 'assistant', content: [{ text: '4' }] })
    expect(out.inferenceConfig).toEqual({ maxTokens: 2000 })
  })

  it('never mutates the input', () => {
    const input = body()
    const copy = structuredClone(input)
    adaptRequestFor(input, claude, nova)
    expect(input).toEqual(copy)
  })

  it('returns the very same object within one family', () => {
    const input = body()
    expect(adaptRequestFor(input, claude, haiku)).toBe(input)
    expect(adaptRequestFor(input, claude, claude)).toBe(input)
  })

  it('follows the target override: fields set to false are kept', () => {
    const keepReasoning = { ...nova, override: { dropReasoningContent: false } }
    const out = adaptRequestFor(body(), claude, keepReasoning) as ReturnType<typeof body>
    expect(out.messages[1].content).toHaveLength(2)
    expect(out).not.toHaveProperty('additionalModelRequestFields')
  })

  it('with an unknown family only applies what the override sets explicitly', () => {
    const input = body()
    expect(adaptRequestFor(input, claude, opaque)).toBe(input)
    expect(adaptRequestFor(input, undefined, nova)).toBe(input)
    const explicit = { ...nova, override: { dropAdditionalModelRequestFields: true } }
    const out = adaptRequestFor(input, undefined, explicit) as ReturnType<typeof body>
    expect(out).not.toHaveProperty('additionalModelRequestFields')
    expect(out.messages).toBe(input.messages)
    expect(out.additionalModelResponseFieldPaths).toEqual(['/stop_sequence'])
  })

  it('removes a message left empty and merges the turns it separated', () => {
    const input = {
      messages: [
        { role: 'user', content: [{ text: 'a' }] },
        { role: 'assistant', content: [{ reasoningContent: { redactedContent: 'xx' } }] },
        { role: 'assistant', content: [{ text: 'b' }] },
        { role: 'user', content: [{ text: 'c' }] },
      ],
    }
    const out = adaptRequestFor(input, claude, nova) as typeof input
    expect(out.messages).toEqual([
      { role: 'user', content: [{ text: 'a' }] },
      { role: 'assistant', content: [{ text: 'b' }] },
      { role: 'user', content: [{ text: 'c' }] },
    ])
  })

  it('leaves neighbours that were already adjacent alone', () => {
    const input = {
      messages: [
        { role: 'user', content: [{ text: 'a' }] },
        { role: 'user', content: [{ text: 'b' }] },
        { role: 'assistant', content: [{ reasoningContent: { redactedContent: 'xx' } }, { text: 'c' }] },
      ],
    }
    const out = adaptRequestFor(input, claude, nova) as typeof input
    expect(out.messages).toHaveLength(3)
    expect(out.messages[0]).toBe(input.messages[0])
  })

  it('tolerates odd shapes', () => {
    const odd = { messages: [null, 3, { role: 'user', content: 'text' }, { role: 'assistant', content: [null, { reasoningContent: {} }] }] }
    const out = adaptRequestFor(odd, claude, nova) as { messages: unknown[] }
    expect(out.messages).toEqual([null, 3, { role: 'user', content: 'text' }, { role: 'assistant', content: [null] }])
    const list: object = []
    expect(adaptRequestFor(list, claude, nova)).toBe(list)
  })

  it('resolves defaults per family pair', () => {
    expect(resolveOverride(claude, nova)).toEqual({
      dropAdditionalModelRequestFields: true,
      dropReasoningContent: true,
      dropAdditionalModelResponseFieldPaths: true,
    })
    expect(resolveOverride(claude, haiku).dropReasoningContent).toBe(false)
    expect(familyOf('global.amazon.nova-2-lite-v1:0')).toBe('amazon')
  })

  it('derives the family from the model id when the deployment has none', () => {
    const noFamily = { ...nova, family: '' }
    expect(adaptRequestFor(body(), claude, noFamily)).not.toHaveProperty('additionalModelRequestFields')
  })
})
