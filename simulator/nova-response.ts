/**
 * Amazon Nova answers to InvokeModel: `{output: {message}, stopReason, usage}` (the Converse shape, with Nova's
 * own usage field names), and for InvokeModelWithResponseStream the Converse stream events, each wrapped as
 * `{"<eventName>": payload}` in a chunk; the last chunk (`metadata`) also carries
 * `amazon-bedrock-invocationMetrics`. Modelled on the Nova user guide; the exact metadata chunk of a real Nova
 * stream is not confirmed by a capture.
 */
import { planEvents, type StreamEvent } from './eventstream'
import type { InvocationMetrics } from './anthropic-response'
import type { AnswerPlan, TokenUsage } from './responses'

export function novaMessage(plan: AnswerPlan, usage: TokenUsage) {
  const content: unknown[] = []
  if (plan.text) content.push({ text: plan.text })
  if (plan.toolUse) content.push({ toolUse: plan.toolUse })
  return {
    output: { message: { role: 'assistant', content } },
    stopReason: plan.stopReason,
    usage: {
      inputTokens: usage.input,
      outputTokens: usage.output,
      totalTokens: usage.input + usage.output,
      cacheReadInputTokenCount: usage.cacheRead,
      cacheWriteInputTokenCount: usage.cacheWrite,
    },
  }
}

export function novaEvents(plan: AnswerPlan, usage: TokenUsage, metrics: () => InvocationMetrics): StreamEvent[] {
  return planEvents(plan, () => 0).map((e) => {
    if (e.type !== 'metadata') return { ...e, payload: () => ({ [e.type]: e.payload() }) }
    return {
      ...e,
      payload: () => ({
        metadata: { usage: { inputTokens: usage.input, outputTokens: usage.output }, metrics: {}, trace: {} },
        'amazon-bedrock-invocationMetrics': metrics(),
      }),
    }
  })
}
