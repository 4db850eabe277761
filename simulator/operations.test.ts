/** Fault rules, quotas, the recorder and stats across all six operations. */
import { describe, expect, it } from 'vitest'
import { textToBase64 } from './base64'
import { createSimulator, type Simulator } from './handler'
import { BASE, CLAUDE, bearerAction, bearerPost, claudeBody, decodeFrames, errorTypeOf, readAll, userBody, type ModelAction } from './test-helpers'

const GUARDRAIL = '/guardrail/gr1/version/1/apply'
const guardrailBody = JSON.stringify({ source: 'INPUT', content: [{ text: { text: 'hi' } }] })
const countBody = JSON.stringify({ input: { invokeModel: { body: textToBase64(claudeBody()) } } })

/** One request of each operation; returns the status (and error type) of each. */
async function everyOperation(sim: Simulator, region = 'us-east-1') {
  const send = async (req: Request) => {
    const res = await sim.fetch(req, region)
    if (res.body) await readAll(res.body).catch(() => undefined)
    return res.status === 200 ? 200 : `${res.status} ${errorTypeOf(res)}`
  }
  const model = (action: ModelAction, body: string) => send(bearerAction(CLAUDE, action, body))
  return {
    converse: await model('converse', userBody()),
    'converse-stream': await model('converse-stream', userBody()),
    invoke: await model('invoke', claudeBody()),
    'invoke-stream': await model('invoke-with-response-stream', claudeBody()),
    'count-tokens': await model('count-tokens', countBody),
    'apply-guardrail': await send(bearerPost(GUARDRAIL, guardrailBody)),
  }
}

describe('fault rules on every operation', () => {
  it('a rule without selectors strikes every operation (guardrails included)', async () => {
    const sim = createSimulator({ rules: [{ fault: 'throttle' }] })
    expect(Object.values(await everyOperation(sim))).toEqual(Array(6).fill('429 ThrottlingException'))
  })

  it.each(['converse', 'converse-stream', 'invoke', 'invoke-stream', 'count-tokens', 'apply-guardrail'] as const)('operation "%s" selects that operation only', async (operation) => {
    const sim = createSimulator({ rules: [{ fault: 'error', status: 503, errorType: 'ServiceUnavailableException', operation }] })
    const got = await everyOperation(sim)
    for (const [op, status] of Object.entries(got)) expect([op, status]).toEqual([op, op === operation ? '503 ServiceUnavailableException' : 200])
  })

  it('matches ApplyGuardrail by guardrail/{id} and models by model ID', async () => {
    const sim = createSimulator({ rules: [{ fault: 'throttle', modelId: 'guardrail/*' }, { fault: 'throttle', modelId: 'us.anthropic.*', operation: 'invoke' }] })
    expect(await everyOperation(sim)).toEqual({
      converse: 200,
      'converse-stream': 200,
      invoke: '429 ThrottlingException',
      'invoke-stream': 200,
      'count-tokens': 200,
      'apply-guardrail': '429 ThrottlingException',
    })
  })

  it('applies stream-only rules to both streams and never to the other operations', async () => {
    const sim = createSimulator({ rules: [{ fault: 'exception', afterFrames: 1 }] })
    const stream = async (action: ModelAction, body: string) => {
      const res = await sim.fetch(bearerAction(CLAUDE, action, body), 'us-east-1')
      return decodeFrames((await readAll(res.body!)).bytes).map((f) => f.headers[':message-type'])
    }
    expect(await stream('converse-stream', userBody())).toEqual(['event', 'exception'])
    expect(await stream('invoke-with-response-stream', claudeBody())).toEqual(['event', 'exception'])
    expect((await sim.fetch(bearerAction(CLAUDE, 'invoke', claudeBody()), 'us-east-1')).status).toBe(200)
    expect(sim.rules()[0].hits).toBe(2)
  })

  it('validates operation names, and refuses stream-only rules for other operations', () => {
    const sim = createSimulator()
    expect(() => sim.addRule({ fault: 'throttle', operation: 'converse-streaming' as never })).toThrow(
      'rule.operation must be one of "converse", "converse-stream", "invoke", "invoke-stream", "count-tokens", "apply-guardrail"',
    )
    expect(() => sim.addRule({ fault: 'cut', afterFrames: 1, operation: 'invoke' })).toThrow('applies to streams only')
    expect(sim.addRule({ fault: 'cut', afterFrames: 1, operation: 'invoke-stream' })).toMatch(/^rule-/)
  })

  it('stalls InvokeModel like Converse', async () => {
    const sim = createSimulator({ rules: [{ fault: 'stall', ms: 80, operation: 'invoke' }] })
    const t0 = Date.now()
    expect((await sim.fetch(bearerAction(CLAUDE, 'invoke', claudeBody()), 'us-east-1')).status).toBe(200)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75)
  })
})

describe('quotas across operations', () => {
  it('count invoke and invoke-stream like converse, but not count-tokens or apply-guardrail', async () => {
    const sim = createSimulator({ now: () => 1_000_000, quotas: [{ modelId: CLAUDE, rpm: 4 }, { modelId: 'guardrail/*', rpm: 1 }] })
    expect(await everyOperation(sim)).toEqual({ converse: 200, 'converse-stream': 200, invoke: 200, 'invoke-stream': 200, 'count-tokens': 200, 'apply-guardrail': 200 })
    expect(sim.stats()['us-east-1'][CLAUDE].windowRequests).toBe(4)
    expect(await everyOperation(sim)).toEqual({
      converse: '429 ThrottlingException',
      'converse-stream': '429 ThrottlingException',
      invoke: '429 ThrottlingException',
      'invoke-stream': '429 ThrottlingException',
      'count-tokens': 200,
      'apply-guardrail': 200,
    })
  })

  it('reserves input + max_tokens for InvokeModel and settles cache reads out, as Bedrock does', async () => {
    const sim = createSimulator({ now: () => 1_000_000, quotas: [{ modelId: CLAUDE, tpm: 100_000, burndown: 5 }] })
    const body = claudeBody('', { max_tokens: 500, system: [{ type: 'text', text: 's'.repeat(400), cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'q' }] })
    const invoke = async () => ((await (await sim.fetch(bearerAction(CLAUDE, 'invoke', body), 'us-east-1')).json()) as any).usage
    const first = await invoke()
    // input 1 + cache write 100 + output × 5
    expect(sim.stats()['us-east-1'][CLAUDE].windowTokens).toBe(1 + 100 + 5 * first.output_tokens)
    const open = await sim.fetch(bearerAction(CLAUDE, 'invoke-with-response-stream', body), 'us-east-1')
    // An open stream holds input (101, cached or not) + max_tokens (500).
    expect(sim.stats()['us-east-1'][CLAUDE].windowTokens).toBe(1 + 100 + 5 * first.output_tokens + 101 + 500)
    await readAll(open.body!)
    // Settled: the cache read (100) is not counted.
    expect(sim.stats()['us-east-1'][CLAUDE].windowTokens).toBe(1 + 100 + 5 * first.output_tokens + 1 + 5 * first.output_tokens)
  })
})

describe('recorder and stats across operations', () => {
  it('records the operation of each request and filters on it (in process and over the control API)', async () => {
    const sim = createSimulator()
    await everyOperation(sim)
    expect(sim.requests().map((r) => r.operation)).toEqual(['converse', 'converse-stream', 'invoke', 'invoke-stream', 'count-tokens', 'apply-guardrail'])
    expect(sim.requests({ operation: 'invoke-stream' }).map((r) => r.path)).toEqual([`/model/${encodeURIComponent(CLAUDE)}/invoke-with-response-stream`])
    const res = await sim.fetch(new Request(`${BASE}/__sim/requests?operation=count-tokens`), 'us-east-1')
    const { requests } = (await res.json()) as any
    expect(requests).toHaveLength(1)
    expect(requests[0]).toMatchObject({ operation: 'count-tokens', modelId: CLAUDE, status: 200 })
    expect(sim.stats()['us-east-1'][CLAUDE]).toMatchObject({ accepted: 5, rejected: 0 })
  })

  it('authenticates every operation (SigV4 or Bearer; none → 403)', async () => {
    const sim = createSimulator()
    for (const path of [`/model/${encodeURIComponent(CLAUDE)}/invoke`, `/model/${encodeURIComponent(CLAUDE)}/count-tokens`, GUARDRAIL]) {
      const res = await sim.fetch(new Request(`${BASE}${path}`, { method: 'POST', body: '{}' }), 'us-east-1')
      expect([res.status, errorTypeOf(res)]).toEqual([403, 'MissingAuthenticationTokenException'])
    }
    expect(sim.stats()['us-east-1']['guardrail/gr1'].errors).toEqual({ MissingAuthenticationTokenException: 1 })
  })

  it.each(['invoke-streaming', 'constructor'])('answers 200 UnknownOperationException for the unknown action /model/{id}/%s', async (action) => {
    const sim = createSimulator()
    const res = await sim.fetch(bearerPost(`/model/${encodeURIComponent(CLAUDE)}/${action}`, claudeBody()), 'us-east-1')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ Output: { __type: 'com.amazon.coral.service#UnknownOperationException' }, Version: '1.0' })
  })
})
