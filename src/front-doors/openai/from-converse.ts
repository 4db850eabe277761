/**
 * A Converse answer as an OpenAI `chat.completion`: text blocks → `content`, toolUse blocks → `tool_calls` (the
 * Bedrock tool-use id is the call id, so the client's tool result finds its call), reasoning → `reasoning_content`
 * (the field OpenAI-compatible clients read for thinking models), stop reason → `finish_reason`, usage with cached
 * prompt tokens. A `response_format` answer arrives as the forced tool's input and is rendered as the content.
 */

export interface ResponseContext {
  /** `chatcmpl-…` */
  id: string
  /** Unix seconds. */
  created: number
  /** The model that served. */
  model: string
  /** The forced tool standing in for `response_format`, if any. */
  jsonTool?: string
}

const FINISH: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  content_filtered: 'content_filter',
  guardrail_intervened: 'content_filter',
}

export function finishReason(stopReason: unknown, jsonTool?: string): string {
  const reason = FINISH[String(stopReason)] ?? 'stop'
  // The forced tool of response_format is the answer, not a call for the client to make.
  return reason === 'tool_calls' && jsonTool ? 'stop' : reason
}

export interface OpenAiUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  prompt_tokens_details: { cached_tokens: number }
}

/** OpenAI counts cached prompt tokens inside prompt_tokens; Bedrock reports them beside inputTokens. */
export function usageFrom(raw: unknown): OpenAiUsage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, unknown>
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
  const cached = num(u.cacheReadInputTokens)
  const prompt = num(u.inputTokens) + cached + num(u.cacheWriteInputTokens)
  const completion = num(u.outputTokens)
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } }
}

export function chatCompletion(converse: Record<string, any>, ctx: ResponseContext): Record<string, unknown> {
  const blocks: Array<Record<string, any>> = Array.isArray(converse.output?.message?.content) ? converse.output.message.content : []
  let text = ''
  let json: string | undefined
  let reasoning = ''
  const toolCalls: Array<Record<string, unknown>> = []
  for (const block of blocks) {
    if (typeof block.text === 'string') text += block.text
    else if (block.toolUse) {
      const { toolUseId, name, input } = block.toolUse
      if (ctx.jsonTool && name === ctx.jsonTool) json = JSON.stringify(input ?? {})
      else toolCalls.push({ id: toolUseId, type: 'function', function: { name, arguments: JSON.stringify(input ?? {}) } })
    } else if (typeof block.reasoningContent?.reasoningText?.text === 'string') reasoning += block.reasoningContent.reasoningText.text
  }
  // A response_format answer is the forced tool's input alone: any text the model put before it is not JSON.
  if (json !== undefined) text = json
  const message: Record<string, unknown> = { role: 'assistant', content: text || (toolCalls.length ? null : ''), refusal: null }
  if (reasoning) message.reasoning_content = reasoning
  if (toolCalls.length) message.tool_calls = toolCalls
  const result: Record<string, unknown> = {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(converse.stopReason, ctx.jsonTool) }],
  }
  const usage = usageFrom(converse.usage)
  if (usage) result.usage = usage
  return result
}
