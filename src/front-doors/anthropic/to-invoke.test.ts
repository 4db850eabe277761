import { describe, expect, it } from 'vitest'
import { toInvokeBody } from './to-invoke'

describe('Anthropic Messages request → Bedrock InvokeModel body', () => {
  const request = {
    model: 'sonnet',
    max_tokens: 100,
    stream: true,
    metadata: { user_id: 'user-7' },
    system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'text', text: 'Hi' }] }],
    tools: [{ name: 'f', input_schema: { type: 'object' } }],
    thinking: { type: 'enabled', budget_tokens: 2048 },
  }

  it('keeps the document lossless; sets Bedrock’s anthropic_version; moves betas; drops model, stream, metadata', () => {
    const t = toInvokeBody(request, 'prompt-caching-2024-07-31, interleaved-thinking-2025-05-14')
    if (!t.ok) throw new Error(t.message)
    expect(t.stream).toBe(true)
    expect(t.endUser).toBe('user-7')
    const { model, stream, metadata, ...kept } = request
    void model, void stream, void metadata
    expect(t.body).toEqual({ anthropic_version: 'bedrock-2023-05-31', ...kept, anthropic_beta: ['prompt-caching-2024-07-31', 'interleaved-thinking-2025-05-14'] })
  })

  it('refuses what Bedrock would refuse', () => {
    expect(toInvokeBody({ model: 'x', messages: [] }, undefined)).toMatchObject({ ok: false, message: expect.stringContaining('messages') })
    expect(toInvokeBody({ model: 'x', messages: [{ role: 'user', content: 'x' }] }, undefined)).toMatchObject({ ok: false, message: expect.stringContaining('max_tokens') })
    expect(toInvokeBody({ model: 'x', max_tokens: 5, stream: 'yes', messages: [{ role: 'user', content: 'x' }] }, undefined).ok).toBe(false)
  })

  it('a system turn inside messages is refused in Anthropic’s own words (clients retry without it)', () => {
    const t = toInvokeBody({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'x' }, { role: 'system', content: 'reminder' }] }, undefined)
    expect(t).toMatchObject({ ok: false, message: expect.stringMatching(/Unexpected role "system"\. The input message role must be one of/) })
  })

  it('for counting: no max_tokens needed, one above the thinking budget is added', () => {
    const t = toInvokeBody({ model: 'x', messages: [{ role: 'user', content: 'x' }], thinking: { type: 'enabled', budget_tokens: 1024 } }, undefined, true)
    expect(t.ok && t.body.max_tokens).toBe(1025)
  })
})
