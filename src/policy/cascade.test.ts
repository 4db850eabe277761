import { describe, expect, it } from 'vitest'
import { parseRouterConfig } from '../config/schema'
import { answerProblem, judgeScore, viewOfBody } from './cascade'

const ALL = ['truncated', 'empty', 'refusal', 'json', 'unknown-tool'] as const
const body = (content: unknown[], stopReason = 'end_turn') => JSON.stringify({ output: { message: { role: 'assistant', content } }, stopReason })

describe('cascade checks', () => {
  it('each structural failure is named; a good answer passes', () => {
    expect(answerProblem(viewOfBody(body([{ text: '{"a":1}' }])), ALL, [])).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: '```json\n{"a":1}\n```' }])), ['json'], [])).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: 'partial' }], 'max_tokens')), ALL, [])).toBe('truncated')
    expect(answerProblem(viewOfBody(body([{ text: '  ' }])), ['empty'], [])).toBe('empty')
    expect(answerProblem(viewOfBody(body([{ text: "I'm sorry, but I can't help with that." }])), ['refusal'], [])).toBe('refusal')
    expect(answerProblem(viewOfBody(body([{ text: 'blocked' }], 'guardrail_intervened')), ['refusal'], [])).toBe('refusal')
    expect(answerProblem(viewOfBody(body([{ text: 'plain prose' }])), ['json'], [])).toBe('not JSON')
    expect(answerProblem(viewOfBody(body([{ toolUse: { name: 'rm_rf', input: {}, toolUseId: 't' } }], 'tool_use')), ['unknown-tool'], ['lookup'])).toBe('unknown tool rm_rf')
    expect(answerProblem(viewOfBody(body([{ toolUse: { name: 'lookup', input: {}, toolUseId: 't' } }], 'tool_use')), ALL, ['lookup'])).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: 'partial' }], 'max_tokens')), ['json'], [])).toBe('not JSON') // only the checks asked for
  })

  it('config: tiers must be other, known, non-cascading pools', () => {
    const pool = (extra = {}) => ({ deployments: [{ id: `d${Math.random()}`.replace('.', ''), modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }], ...extra })
    const problems = (pools: object) => {
      try {
        parseRouterConfig({ pools })
        return []
      } catch (e) {
        return (e as { problems: string[] }).problems
      }
    }
    expect(problems({ a: pool({ cascade: { tiers: ['a', 'nope', 'b'] } }), b: pool({ cascade: { tiers: ['c'] } }), c: pool() })).toEqual([
      'pools.a.cascade.tiers[0]: the pool itself is the last tier; list only smaller pools',
      'pools.a.cascade.tiers[1]: no pool named "nope"',
      'pools.a.cascade.tiers[2]: "b" has a cascade of its own (cascades do not nest)',
    ])
    expect(parseRouterConfig({ pools: { a: pool({ cascade: { tiers: ['c'] } }), c: pool() } }).pools.a.cascade).toEqual({ tiers: ['c'], checks: ['truncated', 'empty', 'refusal', 'unknown-tool'], stream: 'hold' })
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'a' } } }), c: pool() })).toEqual(['pools.a.cascade.judge.pool: a pool cannot judge its own cascade; name a (small) pool of its own'])
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'j' } } }), c: pool() })).toEqual(['pools.a.cascade.judge.pool: no pool named "j"'])
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'c', threshold: 2 } } }), c: pool() })[0]).toMatch(/threshold must be between 0 and 1/)
    expect(parseRouterConfig({ pools: { a: pool({ cascade: { tiers: ['c'], judge: { pool: 'c' } } }), c: pool() } }).pools.a.cascade?.judge).toEqual({ pool: 'c', threshold: 0.6, maxTokens: 16 })
  })

  it('a judge’s reply read as a 0–1 score', () => {
    expect(judgeScore('0.2')).toBe(0.2)
    expect(judgeScore('Score: 0.85.')).toBe(0.85)
    expect(judgeScore('1')).toBe(1)
    expect(judgeScore('7/10')).toBe(0.7)
    expect(judgeScore('80')).toBe(0.8)
    expect(judgeScore('no idea')).toBeUndefined()
    expect(judgeScore('12345')).toBeUndefined()
  })
})
