import { describe, expect, it } from 'vitest'
import { planAnswer, VAGUE_ANSWER } from './responses'

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

  it('a [subtle] task gets a complete but vague answer from small models, a real one from the others', () => {
    const micro = planAnswer(args('us.amazon.nova-micro-v1:0', '[subtle] weigh the trade-offs'))
    expect(micro).toMatchObject({ stopReason: 'end_turn', text: VAGUE_ANSWER })
    expect(planAnswer(args('us.anthropic.claude-sonnet-4-5-20250929-v1:0', '[subtle] weigh the trade-offs')).text).not.toBe(VAGUE_ANSWER)
  })

  it('a grading request (a system prompt about a score, the answer in <answer> tags) is answered with a score', () => {
    const grade = (answer: string, modelId = 'us.amazon.nova-micro-v1:0') =>
      planAnswer({ ...args(modelId, `<request>\n[hard] [subtle] a task\n</request>\n<answer>\n${answer}\n</answer>`), body: { system: [{ text: 'Reply with the score only.' }], messages: [{ role: 'user' as const, content: [{ text: `<request>\n[hard] [subtle] a task\n</request>\n<answer>\n${answer}\n</answer>` }] }] } })
    expect(grade(VAGUE_ANSWER)).toMatchObject({ text: '0.2', stopReason: 'end_turn' })
    expect(grade('')).toMatchObject({ text: '0.2' })
    expect(grade('Refunds within 30 days apply per policy 4.2.')).toMatchObject({ text: '0.9', stopReason: 'end_turn' })
    // Without the score instruction it is an ordinary request.
    expect(planAnswer(args('us.amazon.nova-micro-v1:0', '<answer>x</answer>')).text).not.toBe('0.9')
  })

  it('a request carrying a guardrail gets the blocked message for a blocked word', () => {
    const plan = planAnswer(args('amazon.nova-lite-v1:0', 'please BLOCKME', { guardrailConfig: { guardrailIdentifier: 'g', guardrailVersion: '1' } }))
    expect(plan).toMatchObject({ stopReason: 'guardrail_intervened', text: 'Sorry, the model cannot answer this question.' })
    expect(planAnswer(args('amazon.nova-lite-v1:0', 'please BLOCKME')).stopReason).toBe('end_turn') // no guardrail, no block
  })
})
