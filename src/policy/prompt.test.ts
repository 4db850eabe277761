import { describe, expect, it } from 'vitest'
import { applyGuardrail, applyPrompt, guardrailHeaders } from './prompt'

const body = { system: [{ text: 'Client system.' }], messages: [{ role: 'user', content: [{ text: 'hi' }] }] }
const template = { name: 'support', texts: { anthropic: 'You are {{company}} support (Claude).', default: 'You are {{company}} support.' } }

describe('per-model prompts', () => {
  it('a template per family, variables from tags, around the client’s own system text', () => {
    const claude = applyPrompt(body, { template, append: 'Answer briefly.' }, 'anthropic', { company: 'Acme' })
    expect(claude.body.system).toEqual([{ text: 'You are Acme support (Claude).' }, { text: 'Client system.' }, { text: 'Answer briefly.' }])
    expect(claude.applied).toBe('template support (anthropic), system append')
    const nova = applyPrompt(body, { template }, 'amazon', {})
    expect(nova.body.system).toEqual([{ text: 'You are  support.' }, { text: 'Client system.' }])
    expect(nova.applied).toBe('template support (default)')
    expect(body.system).toEqual([{ text: 'Client system.' }]) // the original is untouched
  })

  it('byFamily wins over the pool-wide text; Prompt Management requests are left alone', () => {
    const prompt = { prepend: 'Everyone.', byFamily: { amazon: { prepend: 'Nova only.' } } }
    expect(applyPrompt(body, prompt, 'amazon', {}).body.system).toEqual([{ text: 'Nova only.' }, { text: 'Client system.' }])
    expect(applyPrompt(body, prompt, 'anthropic', {}).body.system).toEqual([{ text: 'Everyone.' }, { text: 'Client system.' }])
    const managed = { ...body, promptVariables: { topic: { text: 'x' } } }
    expect(applyPrompt(managed, prompt, 'amazon', {})).toEqual({ body: managed })
    expect(applyPrompt(body, undefined, 'amazon', {})).toEqual({ body })
  })
})

describe('guardrails per pool', () => {
  const guardrail = { identifier: 'gr-1', version: '3', trace: 'enabled' as const, streamProcessingMode: 'async' as const }
  it('attached to Converse (streams get their processing mode); the client’s own wins unless enforced', () => {
    expect(applyGuardrail(body, guardrail, false).body.guardrailConfig).toEqual({ guardrailIdentifier: 'gr-1', guardrailVersion: '3', trace: 'enabled' })
    expect(applyGuardrail(body, guardrail, true).body.guardrailConfig).toMatchObject({ streamProcessingMode: 'async' })
    const own = { ...body, guardrailConfig: { guardrailIdentifier: 'mine', guardrailVersion: '1' } }
    expect(applyGuardrail(own, guardrail, false)).toEqual({ body: own, applied: "the client's own" })
    expect(applyGuardrail(own, { ...guardrail, enforce: true }, false).body.guardrailConfig).toMatchObject({ guardrailIdentifier: 'gr-1' })
  })

  it('InvokeModel: the headers', () => {
    expect(guardrailHeaders(guardrail, { accept: 'application/json' })).toEqual({ accept: 'application/json', 'x-amzn-bedrock-guardrailidentifier': 'gr-1', 'x-amzn-bedrock-guardrailversion': '3', 'x-amzn-bedrock-trace': 'ENABLED' })
    const own = { 'x-amzn-bedrock-guardrailidentifier': 'mine', 'x-amzn-bedrock-guardrailversion': '1' }
    expect(guardrailHeaders(guardrail, own)).toBe(own)
  })
})
