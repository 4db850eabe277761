import { describe, expect, it } from 'vitest'
import { textToBase64 } from './base64'
import { createSimulator } from './handler'
import { CLAUDE, NOVA, bearerAction, claudeBody, errorTypeOf, userBody } from './test-helpers'

const count = async (input: unknown, modelId = CLAUDE, sim = createSimulator()) => {
  const res = await sim.fetch(bearerAction(modelId, 'count-tokens', JSON.stringify(input)), 'us-east-1')
  return { res, json: (await res.json()) as any, sim }
}

describe('CountTokens', () => {
  it('counts a Converse input as Converse reports it', async () => {
    const sim = createSimulator()
    const converse = { system: [{ text: 'You are terse.' }], messages: [{ role: 'user', content: [{ text: 'What is 2 + 2, please?' }] }] }
    const { res, json } = await count({ input: { converse } }, CLAUDE, sim)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-amzn-requestid')).toBeTruthy()
    const answered = (await (await sim.fetch(bearerAction(CLAUDE, 'converse', JSON.stringify(converse)), 'us-east-1')).json()) as any
    expect(json).toEqual({ inputTokens: answered.usage.inputTokens })
    expect(json.inputTokens).toBe(Math.ceil(36 / 4))
  })

  it('counts a base64 InvokeModel body as the model reports it, cache tokens included', async () => {
    const sim = createSimulator()
    const body = claudeBody('', {
      system: [{ type: 'text', text: 's'.repeat(400), cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'question one' }],
    })
    const { json } = await count({ input: { invokeModel: { body: textToBase64(body) } } }, CLAUDE, sim)
    for (let i = 0; i < 2; i++) {
      const { usage } = (await (await sim.fetch(bearerAction(CLAUDE, 'invoke', body), 'us-east-1')).json()) as any
      expect(json.inputTokens).toBe(usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens)
    }
    expect(json.inputTokens).toBe(103)
  })

  it.each([
    ['no input', {}, "Value null at 'input' failed to satisfy constraint"],
    ['both kinds', { input: { converse: { messages: [] }, invokeModel: { body: 'e30=' } } }, 'exactly one of [converse, invokeModel]'],
    ['another kind', { input: { prompt: 'hi' } }, 'exactly one of [converse, invokeModel]'],
    ['empty messages', { input: { converse: { messages: [] } } }, "Value at 'messages' failed to satisfy constraint"],
    ['body not base64', { input: { invokeModel: { body: '{not base64}' } } }, 'must be base64-encoded JSON'],
    ['body without anthropic_version', { input: { invokeModel: { body: textToBase64(userBody()) } } }, 'required key [anthropic_version] not found'],
  ])('400 ValidationException for %s', async (_name, input, message) => {
    const { res, json } = await count(input)
    expect([res.status, errorTypeOf(res)]).toEqual([400, 'ValidationException'])
    expect(json.message).toContain(message)
  })

  it("400 for models that don't count tokens (Nova, other families)", async () => {
    for (const modelId of [NOVA, 'meta.llama3-1-8b-instruct-v1:0']) {
      const { res, json } = await count({ input: { converse: JSON.parse(userBody()) } }, modelId)
      expect([res.status, json.message]).toEqual([400, "The provided model doesn't support counting tokens."])
    }
  })

  it('is recorded and counted in stats but adds no tokens', async () => {
    const { sim } = await count({ input: { converse: JSON.parse(userBody()) } })
    expect(sim.requests().at(-1)).toMatchObject({ operation: 'count-tokens', modelId: CLAUDE, status: 200 })
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ accepted: 1, inputTokens: 0, outputTokens: 0 })
  })
})
