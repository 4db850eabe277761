/**
 * An unmodified AWS SDK client (the way a user configures it for a Bedrock API key) talking to the router,
 * which routes to simulated Bedrock deployments in two regions.
 */
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime'
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-6'
let h: Harness

beforeAll(async () => {
  h = await startHarness((e) => ({
    pools: {
      sonnet: {
        strategy: 'weighted',
        deployments: [
          { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', weight: 1, endpoint: e['us-east-1'] },
          { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', weight: 1, endpoint: e['us-west-2'] },
        ],
      },
    },
  }))
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

function client(token = CLIENT_KEY) {
  return new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.router.url,
    token: { token },
    authSchemePreference: ['httpBearerAuth'],
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  })
}

const messages = [{ role: 'user' as const, content: [{ text: 'Hello there' }] }]

describe('AWS SDK for JavaScript against the router', () => {
  it('Converse: answers come from deployments in both regions', async () => {
    const regions = new Set<string>()
    for (let i = 0; i < 16 && regions.size < 2; i++) {
      const out = await client().send(new ConverseCommand({ modelId: SONNET, messages }))
      const text = out.output?.message?.content?.[0]?.text ?? ''
      expect(text).toMatch(/^Hello from (us-east-1|us-west-2)/)
      expect(out.usage?.inputTokens).toBeGreaterThan(0)
      regions.add(text.split(' ')[2])
    }
    expect([...regions].sort()).toEqual(['us-east-1', 'us-west-2'])
  })

  it('ConverseStream: the SDK decodes the binary event stream relayed by the router', async () => {
    const out = await client().send(new ConverseStreamCommand({ modelId: 'sonnet', messages }))
    const kinds: string[] = []
    let text = ''
    let usage: { inputTokens?: number } | undefined
    for await (const event of out.stream!) {
      const kind = Object.keys(event).find((k) => (event as unknown as Record<string, unknown>)[k] !== undefined)!
      kinds.push(kind)
      if (event.contentBlockDelta?.delta?.text) text += event.contentBlockDelta.delta.text
      if (event.metadata) usage = event.metadata.usage
    }
    expect(kinds[0]).toBe('messageStart')
    expect(kinds.slice(-2)).toEqual(['messageStop', 'metadata'])
    expect(text).toMatch(/^Hello from us-(east-1|west-2) \(model us\.anthropic\.claude-sonnet-4-6\)\.$/)
    expect(usage?.inputTokens).toBeGreaterThan(0)
  })

  it('a throttled region fails over to the other with no client-visible error', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    for (let i = 0; i < 6; i++) {
      const out = await client().send(new ConverseCommand({ modelId: SONNET, messages }))
      expect(out.output?.message?.content?.[0]?.text).toMatch(/^Hello from us-west-2/)
    }
    const stream = await client().send(new ConverseStreamCommand({ modelId: SONNET, messages }))
    let text = ''
    for await (const e of stream.stream!) text += e.contentBlockDelta?.delta?.text ?? ''
    expect(text).toMatch(/^Hello from us-west-2/)
  })

  it('a wrong client key is refused with UnrecognizedClientException and nothing goes upstream', async () => {
    await expect(client('not-a-key').send(new ConverseCommand({ modelId: SONNET, messages }))).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
      $metadata: { httpStatusCode: 401 },
    })
    const stats = await h.control('/__sim/stats')
    expect(JSON.stringify(stats)).not.toMatch(/"accepted":[1-9]/)
  })

  it('an unknown model is ResourceNotFoundException', async () => {
    await expect(client().send(new ConverseCommand({ modelId: 'anthropic.not-served-v1:0', messages }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      $metadata: { httpStatusCode: 404 },
    })
  })

  it('an upstream ValidationException is relayed as is, without failover', async () => {
    await h.control('/__sim/rules', { fault: 'error', status: 400, errorType: 'ValidationException', message: 'messages: bad role' })
    await expect(client().send(new ConverseCommand({ modelId: SONNET, messages }))).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'messages: bad role',
      $metadata: { httpStatusCode: 400 },
    })
    const { requests } = await h.control('/__sim/requests')
    expect(requests).toHaveLength(1)
  })

  it('a stream cut after the first content ends with an explicit error, not a clean end', async () => {
    await h.control('/__sim/rules', { fault: 'cut', afterFrames: 2, partialBytes: 7 })
    const out = await client().send(new ConverseStreamCommand({ modelId: SONNET, messages }))
    const seen: string[] = []
    await expect(
      (async () => {
        for await (const e of out.stream!) seen.push(Object.keys(e)[0])
      })(),
    ).rejects.toMatchObject({ name: 'InternalServerException' })
    expect(seen).toContain('contentBlockDelta')
    expect(seen).not.toContain('metadata')
  })
})
