import { describe, expect, it } from 'vitest'
import { parseRouterConfig } from '../config/schema'
import { answerProblem, askedShape, judgeScore, viewOfBody, viewOfFrames } from './cascade'
import { decodeFrame, encodeEventFrame } from '../wire/eventstream'

const ALL = ['truncated', 'empty', 'refusal', 'json', 'unknown-tool', 'schema'] as const
const DEFAULTS = ['truncated', 'empty', 'refusal', 'unknown-tool', 'schema'] as const
const NONE = askedShape({})
const LOOKUP = askedShape({ toolConfig: { tools: [{ toolSpec: { name: 'lookup' } }] } })
const body = (content: unknown[], stopReason = 'end_turn') => JSON.stringify({ output: { message: { role: 'assistant', content } }, stopReason })

describe('cascade checks', () => {
  it('each structural failure is named; a good answer passes', () => {
    expect(answerProblem(viewOfBody(body([{ text: '{"a":1}' }])), ALL, NONE)).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: '```json\n{"a":1}\n```' }])), ['json'], NONE)).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: 'partial' }], 'max_tokens')), ALL, NONE)).toBe('truncated')
    expect(answerProblem(viewOfBody(body([{ text: '  ' }])), ['empty'], NONE)).toBe('empty')
    expect(answerProblem(viewOfBody(body([{ text: "I'm sorry, but I can't help with that." }])), ['refusal'], NONE)).toBe('refusal')
    expect(answerProblem(viewOfBody(body([{ text: 'blocked' }], 'guardrail_intervened')), ['refusal'], NONE)).toBe('refusal')
    expect(answerProblem(viewOfBody(body([{ text: 'plain prose' }])), ['json'], NONE)).toBe('not JSON')
    expect(answerProblem(viewOfBody(body([{ toolUse: { name: 'rm_rf', input: {}, toolUseId: 't' } }], 'tool_use')), ['unknown-tool'], LOOKUP)).toBe('unknown tool rm_rf')
    expect(answerProblem(viewOfBody(body([{ toolUse: { name: 'lookup', input: {}, toolUseId: 't' } }], 'tool_use')), ALL, LOOKUP)).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: 'partial' }], 'max_tokens')), ['json'], NONE)).toBe('not JSON') // only the checks asked for
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
    expect(parseRouterConfig({ pools: { a: pool({ cascade: { tiers: ['c'] } }), c: pool() } }).pools.a.cascade).toEqual({ tiers: ['c'], checks: ['truncated', 'empty', 'refusal', 'unknown-tool', 'schema'], stream: 'hold' })
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'a' } } }), c: pool() })).toEqual(['pools.a.cascade.judge.pool: a pool cannot judge its own cascade; name a (small) pool of its own'])
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'j' } } }), c: pool() })).toEqual(['pools.a.cascade.judge.pool: no pool named "j"'])
    expect(problems({ a: pool({ cascade: { tiers: ['c'], judge: { pool: 'c', threshold: 2 } } }), c: pool() })[0]).toMatch(/threshold must be between 0 and 1/)
    expect(parseRouterConfig({ pools: { a: pool({ cascade: { tiers: ['c'], judge: { pool: 'c' } } }), c: pool() } }).pools.a.cascade?.judge).toEqual({ pool: 'c', threshold: 0.6, maxTokens: 16 })
  })

  it('schema: a forced tool must be called with input matching its schema; text must match outputConfig’s JSON schema', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1 } }, required: ['city', 'days'], additionalProperties: false }
    const forced = askedShape({ toolConfig: { tools: [{ toolSpec: { name: 'plan', inputSchema: { json: schema } } }], toolChoice: { tool: { name: 'plan' } } } })
    const call = (input: unknown) => viewOfBody(body([{ toolUse: { name: 'plan', input, toolUseId: 't' } }], 'tool_use'))
    expect(answerProblem(call({ city: 'Oslo', days: 3 }), DEFAULTS, forced)).toBeUndefined()
    expect(answerProblem(call({ city: 'Oslo' }), DEFAULTS, forced)).toBe('schema: $.days: missing')
    expect(answerProblem(call({ city: 'Oslo', days: 0 }), DEFAULTS, forced)).toBe('schema: $.days: below 1')
    expect(answerProblem(call({ city: 'Oslo', days: 2.5 }), DEFAULTS, forced)).toBe('schema: $.days: expected integer, got number')
    expect(answerProblem(call({ city: 'Oslo', days: 2, extra: true }), DEFAULTS, forced)).toBe('schema: $.extra: not allowed')
    expect(answerProblem(viewOfBody(body([{ text: 'Oslo, 3 days' }])), DEFAULTS, forced)).toBe('schema: no call to plan')
    // Streamed tool input: the deltas spell the JSON.
    const frames = [
      ['contentBlockStart', { contentBlockIndex: 0, start: { toolUse: { name: 'plan', toolUseId: 't' } } }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":"Oslo",' } } }],
      ['contentBlockDelta', { contentBlockIndex: 0, delta: { toolUse: { input: '"days":"three"}' } } }],
      ['messageStop', { stopReason: 'tool_use' }],
    ].map(([type, payload]) => decodeFrame(encodeEventFrame(type as string, JSON.stringify(payload))))
    expect(answerProblem(viewOfFrames(frames), DEFAULTS, forced)).toBe('schema: $.days: expected integer, got string')
    const text = askedShape({ outputConfig: { textFormat: { type: 'json_schema', structure: { jsonSchema: { schema: JSON.stringify({ type: 'array', items: { type: 'string' }, minItems: 1 }) } } } } })
    expect(answerProblem(viewOfBody(body([{ text: '["a","b"]' }])), DEFAULTS, text)).toBeUndefined()
    expect(answerProblem(viewOfBody(body([{ text: '[]' }])), DEFAULTS, text)).toBe('schema: $: fewer than 1 items')
    expect(answerProblem(viewOfBody(body([{ text: '[1]' }])), DEFAULTS, text)).toBe('schema: $[0]: expected string, got integer')
    expect(answerProblem(viewOfBody(body([{ text: 'a, b' }])), DEFAULTS, text)).toBe('not JSON')
    // Without the check, none of it matters.
    expect(answerProblem(call({}), ['truncated'], forced)).toBeUndefined()
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
