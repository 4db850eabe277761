/** Cross-family failover: what the next model cannot accept is dropped, so a failover is not a ValidationException. */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => ({
    pools: {
      chat: {
        deployments: [
          { id: 'claude', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: 'nova', modelId: 'us.amazon.nova-pro-v1:0', region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
        ],
      },
    },
  }))
})
afterAll(() => h?.close())

it('drops Anthropic-only fields and foreign reasoning blocks when failing over from Claude to Nova', async () => {
  await h.control('/__sim/rules', { region: 'us-east-1', fault: 'error', status: 503, errorType: 'ServiceUnavailableException' })
  const request = {
    messages: [
      { role: 'user', content: [{ text: 'Think, then answer.' }] },
      { role: 'assistant', content: [{ reasoningContent: { reasoningText: { text: 'hmm', signature: 'sig-by-claude' } } }, { text: 'Answer one.' }] },
      { role: 'user', content: [{ text: 'And again?' }] },
    ],
    inferenceConfig: { maxTokens: 200 },
    additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 1024 } },
  }
  const res = await fetch(`${h.router.url}/model/chat/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(request),
  })
  expect(res.status).toBe(200)
  expect(res.headers.get('x-router-deployment')).toBe('nova')
  const { requests } = await h.control('/__sim/requests')
  const [toClaude, toNova] = requests as { region: string; body: any }[]
  expect(toClaude.body).toEqual(request) // the original deployment got the request verbatim
  const adapted = toNova.body
  expect(adapted.additionalModelRequestFields).toBeUndefined()
  expect(adapted.messages[1].content).toEqual([{ text: 'Answer one.' }])
  expect(adapted.inferenceConfig).toEqual({ maxTokens: 200 })
  expect(adapted.messages).toHaveLength(3)
})
