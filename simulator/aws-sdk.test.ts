/** The real AWS SDK (SigV4 with its own headers, event-stream parsing, error parsing) against the simulator. */
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY, startSimulator, type RunningSimulator } from './node-server'
import { NOVA, PROFILE_ARN } from './test-helpers'

let sim: RunningSimulator
beforeAll(async () => {
  sim = await startSimulator({ regions: ['us-west-2'] })
})
afterAll(() => sim.close())
beforeEach(() => sim.simulator.reset())

const sdk = (bearer = false) =>
  new BedrockRuntimeClient({
    region: 'us-west-2',
    endpoint: sim.endpoints['us-west-2'],
    requestHandler: new NodeHttpHandler(), // HTTP/1.1 (the default Node handler speaks HTTP/2)
    maxAttempts: 1,
    ...(bearer
      ? { token: { token: DEMO_API_KEY }, authSchemePreference: ['httpBearerAuth'] }
      : { credentials: { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY } }),
  })
const messages = [{ role: 'user' as const, content: [{ text: 'Hello SDK' }] }]

describe('AWS SDK for JavaScript v3', () => {
  it.each([NOVA, PROFILE_ARN])('Converse with SigV4 (%s)', async (modelId) => {
    const out = await sdk().send(new ConverseCommand({ modelId, messages }))
    expect(out.output?.message?.content?.[0]?.text).toBe(`Hello from us-west-2 (model ${modelId}).`)
    expect(out.stopReason).toBe('end_turn')
    expect(out.usage).toMatchObject({ inputTokens: 3, totalTokens: 3 + (out.usage?.outputTokens ?? 0) })
    expect(sim.simulator.requests().at(-1)!.auth).toMatchObject({ scheme: 'sigv4', service: 'bedrock', region: 'us-west-2' })
  })

  it('ConverseStream with a bearer key: the SDK parses every event', async () => {
    const out = await sdk(true).send(
      new ConverseStreamCommand({
        modelId: NOVA,
        messages,
        toolConfig: { tools: [{ toolSpec: { name: 'lookup', inputSchema: { json: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } } } }] },
      }),
    )
    const kinds: string[] = []
    let text = ''
    let toolInput = ''
    let usage: unknown
    for await (const ev of out.stream!) {
      const kind = Object.keys(ev).find((k) => k !== '$unknown')!
      kinds.push(kind)
      text += ev.contentBlockDelta?.delta?.text ?? ''
      toolInput += ev.contentBlockDelta?.delta?.toolUse?.input ?? ''
      if (ev.metadata) usage = ev.metadata.usage
    }
    expect(kinds[0]).toBe('messageStart')
    expect(kinds.slice(-2)).toEqual(['messageStop', 'metadata'])
    expect(kinds).toContain('contentBlockStart')
    expect(text).toBe(`Calling lookup from us-west-2 (model ${NOVA}).`)
    expect(JSON.parse(toolInput)).toEqual({ q: 'example' })
    expect(usage).toMatchObject({ inputTokens: 3 })
    expect(sim.simulator.requests().at(-1)!.auth.scheme).toBe('bearer')
  })

  it('parses simulated errors as the modeled exceptions', async () => {
    sim.simulator.addRule({ fault: 'throttle', times: 1 })
    await expect(sdk().send(new ConverseCommand({ modelId: NOVA, messages }))).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Too many requests, please wait before trying again.',
      $metadata: { httpStatusCode: 429 },
    })
    sim.simulator.addRule({ fault: 'exception', afterFrames: 2, exceptionType: 'serviceUnavailableException', message: 'gone' })
    const out = await sdk().send(new ConverseStreamCommand({ modelId: NOVA, messages }))
    const seen: string[] = []
    await expect(
      (async () => {
        for await (const ev of out.stream!) seen.push(Object.keys(ev)[0])
      })(),
    ).rejects.toMatchObject({ name: 'ServiceUnavailableException', message: 'gone' })
    expect(seen).toEqual(['messageStart', 'contentBlockDelta'])
  })

  it('rejects a wrong secret with the SDK seeing InvalidSignatureException', async () => {
    const bad = new BedrockRuntimeClient({
      region: 'us-west-2',
      endpoint: sim.endpoints['us-west-2'],
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
      credentials: { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: 'wrong' },
    })
    await expect(bad.send(new ConverseCommand({ modelId: NOVA, messages }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      $metadata: { httpStatusCode: 403 },
    })
  })
})
