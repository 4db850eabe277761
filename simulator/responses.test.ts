import { describe, expect, it } from 'vitest'
import { planAnswer } from './responses'

const args = (modelId: string, text: string, extra: Record<string, unknown> = {}) => ({
  body: { messages: [{ role: 'user' as const, content: [{ text }] }], ...extra },
  modelId,
  region: 'us-east-1',
  responseChars: 0,
  seq: 1,
})

describe('answers that exercise what a router must check', () => {
  it('a [hard] task is truncated by small models (micro, lite, haiku) and answered by the others', () => {
    for (const small of ['us.amazon.nova-micro-v1:0', 'amazon.nova-lite-v1:0', 'us.anthropic.claude-haiku-4-5-20251001-v1:0']) {
      expect(planAnswer(args(small, '[hard] prove it')).stopReason, small).toBe('max_tokens')
      expect(planAnswer(args(small, 'easy')).stopReason, small).toBe('end_turn')
    }
    expect(planAnswer(args('us.anthropic.claude-sonnet-4-5-20250929-v1:0', '[hard] prove it')).stopReason).toBe('end_turn')
  })

  it('a request carrying a guardrail gets the blocked message for a blocked word', () => {
    const plan = planAnswer(args('amazon.nova-lite-v1:0', 'please BLOCKME', { guardrailConfig: { guardrailIdentifier: 'g', guardrailVersion: '1' } }))
    expect(plan).toMatchObject({ stopReason: 'guardrail_intervened', text: 'Sorry, the model cannot answer this question.' })
    expect(planAnswer(args('amazon.nova-lite-v1:0', 'please BLOCKME')).stopReason).toBe('end_turn') // no guardrail, no block
  })
})
