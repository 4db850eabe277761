import { describe, expect, it } from 'vitest'
import { chatCompletion, finishReason } from './from-converse'

const ctx = { id: 'chatcmpl-x', created: 1700000000, model: 'us.anthropic.claude-sonnet-4-6' }

describe('Converse answer → chat.completion', () => {
  it('text, usage with cached tokens inside prompt_tokens, the serving model', () => {
    const out = chatCompletion(
      { output: { message: { role: 'assistant', content: [{ text: 'Hello' }, { text: ' there' }] } }, stopReason: 'end_turn', usage: { inputTokens: 10, outputTokens: 3, cacheReadInputTokens: 100, cacheWriteInputTokens: 5 } },
      ctx,
    )
    expect(out).toEqual({
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 1700000000,
      model: ctx.model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 115, completion_tokens: 3, total_tokens: 118, prompt_tokens_details: { cached_tokens: 100 } },
    })
  })

  it('tool calls keep the Bedrock id; reasoning goes to reasoning_content', () => {
    const out: any = chatCompletion(
      {
        output: { message: { content: [
          { reasoningContent: { reasoningText: { text: 'Think.', signature: 's' } } },
          { text: 'Checking.' },
          { toolUse: { toolUseId: 'tooluse_1', name: 'weather', input: { city: 'Paris' } } },
        ] } },
        stopReason: 'tool_use',
        usage: { inputTokens: 1, outputTokens: 1 },
      },
      ctx,
    )
    expect(out.choices[0].message).toEqual({
      role: 'assistant',
      content: 'Checking.',
      refusal: null,
      reasoning_content: 'Think.',
      tool_calls: [{ id: 'tooluse_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }],
    })
    expect(out.choices[0].finish_reason).toBe('tool_calls')
  })

  it('the forced tool of response_format is the content, finishing as stop', () => {
    const out: any = chatCompletion({ output: { message: { content: [{ text: 'Here you go:' }, { toolUse: { toolUseId: 't', name: 'reply', input: { answer: 'yes' } } }] } }, stopReason: 'tool_use', usage: { inputTokens: 1, outputTokens: 1 } }, { ...ctx, jsonTool: 'reply' })
    expect(out.choices[0].message.content).toBe('{"answer":"yes"}')
    expect(out.choices[0].message.tool_calls).toBeUndefined()
    expect(out.choices[0].finish_reason).toBe('stop')
  })

  it('finish reasons', () => {
    expect(['end_turn', 'stop_sequence', 'max_tokens', 'model_context_window_exceeded', 'tool_use', 'content_filtered', 'guardrail_intervened', 'something_new'].map((r) => finishReason(r))).toEqual([
      'stop', 'stop', 'length', 'length', 'tool_calls', 'content_filter', 'content_filter', 'stop',
    ])
  })
})
