import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { bearerPost, errorTypeOf } from './test-helpers'

const path = (id = 'gr1abc', version = 'DRAFT') => `/guardrail/${encodeURIComponent(id)}/version/${encodeURIComponent(version)}/apply`
const texts = (...t: string[]) => t.map((text) => ({ text: { text } }))

async function apply(body: unknown, o: { sim?: Simulator; id?: string; version?: string } = {}) {
  const sim = o.sim ?? createSimulator()
  const res = await sim.fetch(bearerPost(path(o.id, o.version), typeof body === 'string' ? body : JSON.stringify(body)), 'us-east-1')
  return { res, json: (await res.json()) as any, sim }
}

const usage = (wordPolicyUnits: number) => ({
  topicPolicyUnits: 0,
  contentPolicyUnits: 0,
  wordPolicyUnits,
  sensitiveInformationPolicyUnits: 0,
  sensitiveInformationPolicyFreeUnits: 0,
  contextualGroundingPolicyUnits: 0,
  contentPolicyImageUnits: 0,
})

describe('ApplyGuardrail', () => {
  it('answers NONE, with usage, coverage and an assessment of invocation metrics, when nothing is blocked', async () => {
    const { res, json } = await apply({ source: 'INPUT', content: texts('Hello there', 'How are you?') })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(json).toEqual({
      usage: usage(1),
      action: 'NONE',
      actionReason: 'No action.',
      outputs: [],
      assessments: [
        { invocationMetrics: { guardrailProcessingLatency: expect.any(Number), usage: usage(1), guardrailCoverage: { textCharacters: { guarded: 23, total: 23 } } } },
      ],
      guardrailCoverage: { textCharacters: { guarded: 23, total: 23 } },
    })
  })

  it('intervenes on the blocked word (whole word, any case) and names the word policy', async () => {
    const { json } = await apply({ source: 'INPUT', content: texts('fine', 'please blockme now') })
    expect(json).toMatchObject({
      action: 'GUARDRAIL_INTERVENED',
      actionReason: 'Guardrail blocked.',
      outputs: [{ text: 'Sorry, the model cannot answer this question.' }],
    })
    expect(json.assessments[0].wordPolicy).toEqual({ customWords: [{ match: 'BLOCKME', action: 'BLOCKED', detected: true }], managedWordLists: [] })
    expect((await apply({ source: 'OUTPUT', content: texts('unBLOCKMEd') })).json.action).toBe('NONE')
  })

  it('guards only guard_content / unqualified blocks, not grounding sources or queries', async () => {
    const content = [
      { text: { text: 'source says BLOCKME', qualifiers: ['grounding_source'] } },
      { text: { text: 'the answer', qualifiers: ['guard_content'] } },
    ]
    const { json } = await apply({ source: 'OUTPUT', content })
    expect(json.action).toBe('NONE')
    expect(json.guardrailCoverage).toEqual({ textCharacters: { guarded: 10, total: 29 } })
  })

  it('knows only the configured guardrails when SimConfig.guardrails is set, each with its words and messages', async () => {
    const sim = createSimulator({
      guardrails: [{ id: 'gr1abc', versions: ['DRAFT', '1'], blockedWords: ['secret plan'], blockedOutputsMessaging: 'Redacted.' }],
    })
    const out = await apply({ source: 'OUTPUT', content: texts('The Secret Plan is ready') }, { sim, version: '1' })
    expect(out.json).toMatchObject({ action: 'GUARDRAIL_INTERVENED', outputs: [{ text: 'Redacted.' }] })
    expect((await apply({ source: 'INPUT', content: texts('BLOCKME') }, { sim })).json.action).toBe('NONE')
    const arn = await apply({ source: 'INPUT', content: texts('secret plan') }, { sim, id: 'arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1abc' })
    expect(arn.json.action).toBe('GUARDRAIL_INTERVENED')
    for (const [id, version] of [
      ['other1', 'DRAFT'],
      ['gr1abc', '2'],
    ]) {
      const { res, json } = await apply({ source: 'INPUT', content: texts('hi') }, { sim, id, version })
      expect([res.status, errorTypeOf(res), json.message]).toEqual([404, 'ResourceNotFoundException', 'The guardrail identifier or version provided in the request does not exist.'])
    }
    // The control API can change them at run time.
    sim.configure({ guardrails: null } as never)
    expect((await apply({ source: 'INPUT', content: texts('hi') }, { sim, id: 'other1' })).res.status).toBe(200)
  })

  it.each([
    ['a bad identifier', { id: 'Bad_ID' }, { source: 'INPUT', content: texts('hi') }, "at 'guardrailIdentifier' failed to satisfy constraint"],
    ['a bad version', { version: 'v1' }, { source: 'INPUT', content: texts('hi') }, "at 'guardrailVersion' failed to satisfy constraint"],
    ['malformed JSON', {}, '{"source"', 'Malformed input request'],
    ['no source', {}, { content: texts('hi') }, "Value null at 'source'"],
    ['a bad source', {}, { source: 'BOTH', content: texts('hi') }, 'enum value set: [INPUT, OUTPUT]'],
    ['no content', {}, { source: 'INPUT' }, "Value null at 'content'"],
    ['a text block without text', {}, { source: 'INPUT', content: [{ text: {} }] }, 'content[0].text.text must be a string'],
    ['a bad qualifier', {}, { source: 'INPUT', content: [{ text: { text: 'hi', qualifiers: ['other'] } }] }, 'enum value set: [grounding_source, query, guard_content]'],
  ])('400 ValidationException for %s', async (_name, where, body, message) => {
    const { res, json } = await apply(body, where)
    expect([res.status, errorTypeOf(res)]).toEqual([400, 'ValidationException'])
    expect(json.message).toContain(message)
  })

  it('records guardrail requests and keeps their stats under guardrail/{id}', async () => {
    const { sim } = await apply({ source: 'INPUT', content: texts('hi') })
    expect(sim.requests().at(-1)).toMatchObject({ operation: 'apply-guardrail', guardrailIdentifier: 'gr1abc', guardrailVersion: 'DRAFT', status: 200 })
    expect(sim.requests().at(-1)!.modelId).toBeUndefined()
    expect(sim.stats()['us-east-1']['guardrail/gr1abc']).toMatchObject({ accepted: 1, rejected: 0 })
  })

  it('rejects invalid guardrail config', () => {
    const sim = createSimulator()
    expect(() => sim.configure({ guardrails: [{ id: 'UPPER' }] })).toThrow('config.guardrails[0].id must match [a-z0-9]+')
    expect(() => sim.configure({ guardrails: [{ id: 'ok', blockedWords: 'x' as never }] })).toThrow('blockedWords must be an array of strings')
    expect(() => createSimulator({ guardrails: [{ id: 'ok', colour: 'red' } as never] })).toThrow('unknown config.guardrails[0] key: colour')
  })
})
