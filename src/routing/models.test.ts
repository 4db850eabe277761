import { describe, expect, it } from 'vitest'
import { costUsd, expectedCostUsd } from './cost'
import {
  DEFAULT_MAX_OUTPUT_TOKENS,
  baseModelId,
  burndownOf,
  defaultPrice,
  familyOf,
  isPromptRouterArn,
  maxOutputTokensOf,
} from './models'
import { deployment } from './test-helpers'

describe('model ids', () => {
  it('finds the base model id in profiles and ARNs', () => {
    expect(baseModelId('us.anthropic.claude-sonnet-4-6')).toBe('anthropic.claude-sonnet-4-6')
    expect(baseModelId('global.anthropic.claude-haiku-4-5-20251001-v1:0')).toBe('anthropic.claude-haiku-4-5-20251001-v1:0')
    expect(baseModelId('apac.amazon.nova-pro-v1:0')).toBe('amazon.nova-pro-v1:0')
    expect(baseModelId('arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6')).toBe(
      'anthropic.claude-sonnet-4-6',
    )
    expect(baseModelId('arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-3-70b-instruct-v1:0')).toBe(
      'meta.llama3-3-70b-instruct-v1:0',
    )
    expect(baseModelId('arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123')).toBe('')
    expect(baseModelId('mistral.mistral-large-2407-v1:0')).toBe('mistral.mistral-large-2407-v1:0')
  })

  it('derives the family', () => {
    expect(familyOf('us.anthropic.claude-sonnet-4-6')).toBe('anthropic')
    expect(familyOf('amazon.nova-lite-v1:0')).toBe('amazon')
    expect(familyOf('eu.meta.llama3-2-3b-instruct-v1:0')).toBe('meta')
    expect(familyOf('mistral.mistral-large-2407-v1:0')).toBe('mistral')
    expect(familyOf('cohere.command-r-plus-v1:0')).toBe('cohere')
    expect(familyOf('ai21.jamba-1-5-large-v1:0')).toBe('ai21')
    expect(familyOf('us.deepseek.r1-v1:0')).toBe('deepseek')
    expect(familyOf('openai.gpt-oss-120b-1:0')).toBe('openai')
    expect(familyOf('qwen.qwen3-32b-v1:0')).toBe('qwen')
    expect(familyOf('arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1')).toBe('anthropic')
    expect(familyOf('arn:aws:bedrock:us-east-1:123456789012:prompt-router/abcd1234')).toBe('unknown')
    expect(familyOf('my-model')).toBe('unknown')
  })

  it('recognises prompt router ARNs', () => {
    expect(isPromptRouterArn('arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1')).toBe(true)
    expect(isPromptRouterArn('arn:aws:bedrock:us-west-2:123456789012:prompt-router/abc123xyz')).toBe(true)
    expect(isPromptRouterArn('arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:prompt-router/x')).toBe(true)
    expect(isPromptRouterArn('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-6')).toBe(false)
    expect(isPromptRouterArn('anthropic.claude-3-haiku-20240307-v1:0')).toBe(false)
  })
})

describe('built-in model facts', () => {
  it('prices common models, with the 10% geographic premium on 4.5-generation Claude', () => {
    expect(defaultPrice('global.anthropic.claude-sonnet-4-5-20250929-v1:0')).toEqual({ input: 3, output: 15 })
    const geo = defaultPrice('us.anthropic.claude-sonnet-4-5-20250929-v1:0')!
    expect(geo.input).toBeCloseTo(3.3)
    expect(geo.output).toBeCloseTo(16.5)
    expect(defaultPrice('us.anthropic.claude-sonnet-4-20250514-v1:0')).toEqual({ input: 3, output: 15 })
    expect(defaultPrice('global.anthropic.claude-haiku-4-5-20251001-v1:0')).toEqual({ input: 1, output: 5 })
    expect(defaultPrice('anthropic.claude-3-5-haiku-20241022-v1:0')).toEqual({ input: 0.8, output: 4 })
    expect(defaultPrice('anthropic.claude-3-haiku-20240307-v1:0')).toEqual({ input: 0.25, output: 1.25 })
    expect(defaultPrice('us.anthropic.claude-opus-4-1-20250805-v1:0')).toEqual({ input: 15, output: 75 })
    expect(defaultPrice('global.anthropic.claude-opus-4-5-20251101-v1:0')).toEqual({ input: 5, output: 25 })
    expect(defaultPrice('us.amazon.nova-micro-v1:0')).toEqual({ input: 0.035, output: 0.14 })
    expect(defaultPrice('amazon.nova-lite-v1:0')).toEqual({ input: 0.06, output: 0.24 })
    expect(defaultPrice('amazon.nova-pro-v1:0')).toEqual({ input: 0.8, output: 3.2 })
    expect(defaultPrice('meta.llama3-1-70b-instruct-v1:0')).toEqual({ input: 0.72, output: 0.72 })
    expect(defaultPrice('us.meta.llama3-3-70b-instruct-v1:0')).toEqual({ input: 0.72, output: 0.72 })
    expect(defaultPrice('mistral.mistral-large-2402-v1:0')).toEqual({ input: 4, output: 12 })
    expect(defaultPrice('mistral.mistral-large-2407-v1:0')).toEqual({ input: 2, output: 6 })
    expect(defaultPrice('some.unknown-model')).toBeUndefined()
  })

  it('knows output caps and burndown; config wins', () => {
    expect(maxOutputTokensOf(deployment('a', { modelId: 'us.anthropic.claude-sonnet-4-6' }))).toBe(64_000)
    expect(maxOutputTokensOf(deployment('a', { modelId: 'anthropic.claude-3-haiku-20240307-v1:0' }))).toBe(4096)
    expect(maxOutputTokensOf(deployment('a', { modelId: 'x.unknown' }))).toBe(DEFAULT_MAX_OUTPUT_TOKENS)
    expect(maxOutputTokensOf(deployment('a', { maxOutputTokens: 1234 }))).toBe(1234)
    for (const id of [
      'us.anthropic.claude-3-7-sonnet-20250219-v1:0',
      'us.anthropic.claude-sonnet-4-20250514-v1:0',
      'global.anthropic.claude-sonnet-4-6',
      'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      'us.anthropic.claude-opus-4-1-20250805-v1:0',
      'global.anthropic.claude-opus-4-5-20251101-v1:0',
    ]) {
      expect(burndownOf(deployment('a', { modelId: id })), id).toBe(5)
    }
    for (const id of ['anthropic.claude-3-5-haiku-20241022-v1:0', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'amazon.nova-pro-v1:0', 'x.y']) {
      expect(burndownOf(deployment('a', { modelId: id })), id).toBe(1)
    }
    expect(burndownOf(deployment('a', { burndown: 3 }))).toBe(3)
  })
})

describe('cost', () => {
  it('prices a request from usage, including prompt caching', () => {
    const d = deployment('a', { modelId: 'global.anthropic.claude-sonnet-4-6' })
    expect(costUsd(d, { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(3)
    expect(costUsd(d, { inputTokens: 0, outputTokens: 1_000_000 })).toBeCloseTo(15)
    expect(costUsd(d, { inputTokens: 0, outputTokens: 0, cacheWriteInputTokens: 1_000_000, cacheReadInputTokens: 1_000_000 })).toBeCloseTo(
      3 * 1.25 + 3 * 0.1,
    )
    expect(costUsd(deployment('b', { modelId: 'x.unknown' }), { inputTokens: 1, outputTokens: 1 })).toBeUndefined()
    expect(costUsd(deployment('c', { modelId: 'x.unknown', price: { input: 1, output: 2 } }), { inputTokens: 1e6, outputTokens: 1e6 })).toBe(3)
  })

  it('service tiers: Priority and Flex at their factors on the standard rate; a deployment’s own factors win', () => {
    const d = deployment('a', { modelId: 'global.anthropic.claude-sonnet-4-6' })
    const usage = { inputTokens: 1_000_000, outputTokens: 0 }
    expect(costUsd(d, usage, undefined, 'priority')).toBeCloseTo(3 * 1.75)
    expect(costUsd(d, usage, undefined, 'flex')).toBeCloseTo(1.5)
    expect(costUsd(d, usage, undefined, 'default')).toBeCloseTo(3)
    expect(costUsd(d, usage, undefined, 'unheard-of')).toBeCloseTo(3)
    const own = deployment('b', { price: { input: 2, output: 2, tiers: { priority: 1.5 } } })
    expect(costUsd(own, usage, undefined, 'priority')).toBeCloseTo(3)
  })

  it('estimates before sending (maxTokens, else 1000 output tokens, capped)', () => {
    const d = deployment('a', { price: { input: 1, output: 10 }, maxOutputTokens: 500 })
    expect(expectedCostUsd(d, { inputTokens: 1000, stream: false })).toBeCloseTo((1000 * 1 + 500 * 10) / 1e6)
    expect(expectedCostUsd(d, { inputTokens: 1000, maxTokens: 100, stream: false })).toBeCloseTo((1000 + 1000) / 1e6)
    expect(expectedCostUsd(deployment('u', { modelId: 'x.unknown' }), { inputTokens: 1, stream: false })).toBe(Infinity)
  })
})
