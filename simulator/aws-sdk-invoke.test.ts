/**
 * The real AWS SDK (SigV4 or Bearer, its own serialisation, event-stream and error parsing) against InvokeModel,
 * InvokeModelWithResponseStream, CountTokens and ApplyGuardrail on the simulator.
 */
import {
  ApplyGuardrailCommand,
  BedrockRuntimeClient,
  CountTokensCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY, startSimulator, type RunningSimulator } from './node-server'
import { CLAUDE, NOVA, claudeBody, userBody } from './test-helpers'

let sim: RunningSimulator
beforeAll(async () => {
  sim = await startSimulator({ regions: ['us-west-2'] })
})
afterAll(() => sim.close())
beforeEach(() => sim.simulator.reset())

/** A client, and the raw headers of every response it receives. */
function sdk(bearer = false) {
  const client = new BedrockRuntimeClient({
    region: 'us-west-2',
    endpoint: sim.endpoints['us-west-2'],
    requestHandler: new NodeHttpHandler(), // HTTP/1.1 (the default Node handler speaks HTTP/2)
    maxAttempts: 1,
    ...(bearer
      ? { token: { token: DEMO_API_KEY }, authSchemePreference: ['httpBearerAuth'] }
      : { credentials: { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY } }),
  })
  const headers: Array<Record<string, string>> = []
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args)
      headers.push((out.response as { headers: Record<string, string> }).headers)
      return out
    },
    { step: 'deserialize', name: 'captureResponseHeaders' },
  )
  return { client, headers }
}

const encode = (s: string) => new TextEncoder().encode(s)
const decode = (b: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(b))
const tool = { name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }

async function events(stream: AsyncIterable<{ chunk?: { bytes?: Uint8Array } }>): Promise<any[]> {
  const out: any[] = []
  for await (const ev of stream) out.push(decode(ev.chunk?.bytes))
  return out
}

describe('AWS SDK for JavaScript v3: InvokeModel and friends', () => {
  it('InvokeModel with SigV4: the SDK reads the Anthropic message; usage rides the headers', async () => {
    const { client, headers } = sdk()
    const out = await client.send(new InvokeModelCommand({ modelId: CLAUDE, contentType: 'application/json', accept: 'application/json', body: encode(claudeBody('Hello SDK')) }))
    expect(out.contentType).toBe('application/json')
    const msg = decode(out.body)
    const text = `Hello from us-west-2 (model ${CLAUDE}).`
    expect(msg).toMatchObject({ type: 'message', model: 'claude-sonnet-4-6', content: [{ type: 'text', text }], stop_reason: 'end_turn' })
    expect(headers[0]).toMatchObject({
      'x-amzn-bedrock-input-token-count': '3',
      'x-amzn-bedrock-output-token-count': String(Math.ceil(text.length / 4)),
      'x-amzn-bedrock-invocation-latency': expect.stringMatching(/^\d+$/),
    })
    expect(sim.simulator.requests().at(-1)).toMatchObject({ operation: 'invoke', auth: { scheme: 'sigv4', service: 'bedrock', region: 'us-west-2' } })
  })

  it('InvokeModel with a bearer key, an Amazon Nova body and the performance-config header', async () => {
    const { client } = sdk(true)
    const out = await client.send(new InvokeModelCommand({ modelId: NOVA, body: encode(userBody('hi')), performanceConfigLatency: 'optimized' }))
    expect(decode(out.body).output.message.content[0].text).toBe(`Hello from us-west-2 (model ${NOVA}).`)
    expect(out.performanceConfigLatency).toBe('optimized')
    expect(sim.simulator.requests().at(-1)!.auth.scheme).toBe('bearer')
  })

  it('InvokeModelWithResponseStream: the SDK yields chunk bytes that are Anthropic events, metrics last', async () => {
    const { client } = sdk()
    const out = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: encode(claudeBody('look it up', { tools: [tool] })) }))
    expect(out.contentType).toBe('application/json')
    const evs = await events(out.body as never)
    expect(evs.map((e) => e.type).filter((t, i, all) => t !== all[i - 1])).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ])
    const text = evs.filter((e) => e.delta?.type === 'text_delta').map((e) => e.delta.text).join('')
    const json = evs.filter((e) => e.delta?.type === 'input_json_delta').map((e) => e.delta.partial_json).join('')
    expect(text).toBe(`Calling lookup from us-west-2 (model ${CLAUDE}).`)
    expect(JSON.parse(json)).toEqual({ q: 'example' })
    expect(evs.at(-2).delta.stop_reason).toBe('tool_use')
    expect(evs.at(-1)['amazon-bedrock-invocationMetrics']).toEqual({
      inputTokenCount: 3,
      outputTokenCount: evs.at(-2).usage.output_tokens,
      invocationLatency: expect.any(Number),
      firstByteLatency: expect.any(Number),
    })
  })

  it('CountTokens, both input kinds, agrees with what InvokeModel reports', async () => {
    const { client } = sdk()
    const body = claudeBody('How many tokens is this?')
    const invoked = decode((await client.send(new InvokeModelCommand({ modelId: CLAUDE, body: encode(body) }))).body)
    const viaInvoke = await client.send(new CountTokensCommand({ modelId: CLAUDE, input: { invokeModel: { body: encode(body) } } }))
    const viaConverse = await client.send(
      new CountTokensCommand({ modelId: CLAUDE, input: { converse: { messages: [{ role: 'user', content: [{ text: 'How many tokens is this?' }] }] } } }),
    )
    expect(viaInvoke.inputTokens).toBe(invoked.usage.input_tokens)
    expect(viaConverse.inputTokens).toBe(invoked.usage.input_tokens)
    expect(sim.simulator.requests({ operation: 'count-tokens' })).toHaveLength(2)
  })

  it('ApplyGuardrail with an ARN identifier: NONE, then GUARDRAIL_INTERVENED on the blocked word', async () => {
    const { client } = sdk()
    const guardrailIdentifier = 'arn:aws:bedrock:us-west-2:123456789012:guardrail/abc123'
    const ok = await client.send(new ApplyGuardrailCommand({ guardrailIdentifier, guardrailVersion: '1', source: 'INPUT', content: [{ text: { text: 'hello' } }] }))
    expect(ok).toMatchObject({ action: 'NONE', outputs: [], usage: { wordPolicyUnits: 1 } })
    const blocked = await client.send(
      new ApplyGuardrailCommand({ guardrailIdentifier, guardrailVersion: 'DRAFT', source: 'OUTPUT', content: [{ text: { text: 'please BLOCKME' } }] }),
    )
    expect(blocked.action).toBe('GUARDRAIL_INTERVENED')
    expect(blocked.outputs).toEqual([{ text: 'Sorry, the model cannot answer this question.' }])
    expect(blocked.assessments?.[0].wordPolicy?.customWords).toEqual([{ match: 'BLOCKME', action: 'BLOCKED', detected: true }])
    expect(blocked.guardrailCoverage).toEqual({ textCharacters: { guarded: 14, total: 14 } })
    expect(sim.simulator.requests().at(-1)).toMatchObject({ operation: 'apply-guardrail', guardrailIdentifier, guardrailVersion: 'DRAFT' })
  })

  it('parses simulated errors as the modeled exceptions', async () => {
    const { client } = sdk()
    sim.simulator.addRule({ fault: 'throttle', operation: 'invoke', times: 1 })
    await expect(client.send(new InvokeModelCommand({ modelId: CLAUDE, body: encode(claudeBody()) }))).rejects.toMatchObject({
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 429 },
    })
    await expect(client.send(new InvokeModelCommand({ modelId: CLAUDE, body: encode(userBody()) }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining('required key [anthropic_version] not found'),
      $metadata: { httpStatusCode: 400 },
    })
    sim.simulator.configure({ guardrails: [] })
    await expect(
      client.send(new ApplyGuardrailCommand({ guardrailIdentifier: 'gone', guardrailVersion: '1', source: 'INPUT', content: [{ text: { text: 'x' } }] })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } })
    await expect(client.send(new CountTokensCommand({ modelId: NOVA, input: { converse: { messages: [{ role: 'user', content: [{ text: 'x' }] }] } } }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: "The provided model doesn't support counting tokens.",
    })
  })

  it.each([
    ['modelStreamErrorException', 'ModelStreamErrorException'],
    ['throttlingException', 'ThrottlingException'],
    ['modelTimeoutException', 'ModelTimeoutException'],
  ])('surfaces an in-stream %s as %s after the chunks before it', async (exceptionType, name) => {
    const { client } = sdk()
    sim.simulator.addRule({ fault: 'exception', afterFrames: 2, exceptionType, message: 'boom', operation: 'invoke-stream' })
    const out = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: encode(claudeBody()) }))
    const seen: string[] = []
    await expect(
      (async () => {
        for await (const ev of out.body!) seen.push(decode(ev.chunk?.bytes).type)
      })(),
    ).rejects.toMatchObject({ name, message: 'boom' })
    expect(seen).toEqual(['message_start', 'content_block_start'])
  })

  it('fails the SDK stream when the connection is cut mid-stream', async () => {
    const { client } = sdk()
    sim.simulator.addRule({ fault: 'cut', afterFrames: 3, partialBytes: 7, operation: 'invoke-stream' })
    const out = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: encode(claudeBody()) }))
    const seen: string[] = []
    await expect(
      (async () => {
        for await (const ev of out.body!) seen.push(decode(ev.chunk?.bytes).type)
      })(),
    ).rejects.toThrow()
    expect(seen).toEqual(['message_start', 'content_block_start', 'content_block_delta'])
    expect(sim.simulator.stats()['us-west-2'][CLAUDE].streamsCut).toBe(1)
  })

  it('counts InvokeModel against the quota but not CountTokens', async () => {
    const { client } = sdk()
    sim.simulator.setQuota({ modelId: CLAUDE, rpm: 1 })
    for (let i = 0; i < 3; i++) {
      await client.send(new CountTokensCommand({ modelId: CLAUDE, input: { converse: { messages: [{ role: 'user', content: [{ text: 'x' }] }] } } }))
    }
    await client.send(new InvokeModelCommand({ modelId: CLAUDE, body: encode(claudeBody()) }))
    await expect(client.send(new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: encode(claudeBody()) }))).rejects.toMatchObject({
      name: 'ThrottlingException',
    })
  })
})
