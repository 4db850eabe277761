/**
 * A Strands agent (TypeScript SDK) pointed at the router by configuration only: its BedrockModel talks to the
 * router as to Bedrock, streaming by default, and runs a tool loop through it.
 */
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { Agent, BedrockModel, FunctionTool } from '@strands-agents/sdk'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const MODEL = 'us.anthropic.claude-sonnet-4-6'
let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => ({
    pools: {
      sonnet: {
        deployments: [
          { id: 'use1', modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
        ],
      },
    },
  }))
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

function model(stream = true) {
  return new BedrockModel({
    modelId: MODEL,
    region: 'us-east-1',
    stream,
    clientConfig: { endpoint: h.router.url, token: { token: CLIENT_KEY }, authSchemePreference: ['httpBearerAuth'], requestHandler: new NodeHttpHandler(), maxAttempts: 1 },
  })
}

const text = (result: { lastMessage: { content: unknown[] } }) =>
  result.lastMessage.content.map((b) => (b as { text?: string }).text ?? '').join('')

it('answers through the router, streaming and not, and survives a throttled region', async () => {
  await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
  for (const stream of [true, false]) {
    const agent = new Agent({ model: model(stream), printer: false })
    const result = await agent.invoke('Hello')
    expect(text(result)).toMatch(/^Hello from us-west-2/)
  }
})

it('runs a tool loop: the model asks for the tool, the agent calls it, the answer comes back', async () => {
  const calls: unknown[] = []
  const lookup = new FunctionTool({
    name: 'lookup',
    description: 'Looks a thing up',
    inputSchema: { type: 'object', properties: {} },
    callback: (input) => {
      calls.push(input)
      return 'found it'
    },
  })
  const agent = new Agent({ model: model(), tools: [lookup], printer: false })
  const result = await agent.invoke('Use the tool')
  expect(calls).toHaveLength(1)
  expect(result.stopReason).toBe('endTurn')
  const { requests } = await h.control('/__sim/requests')
  expect(requests.length).toBe(2) // the tool-use turn, then the turn with the tool result
})

it('configured only through the environment: AWS_ENDPOINT_URL_BEDROCK_RUNTIME + AWS_BEARER_TOKEN_BEDROCK, streaming, a tool loop, failover underneath', async () => {
  await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
  const saved = { endpoint: process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME, token: process.env.AWS_BEARER_TOKEN_BEDROCK }
  process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = h.router.url
  process.env.AWS_BEARER_TOKEN_BEDROCK = CLIENT_KEY
  try {
    // All the local http:// case needs beyond the two variables: HTTP/1.1 (the SDK's Node default for
    // streaming operations is HTTP/2, which a plain http:// endpoint does not speak).
    const model = new BedrockModel({ modelId: MODEL, region: 'us-east-1', clientConfig: { requestHandler: new NodeHttpHandler() } })
    const calls: unknown[] = []
    const lookup = new FunctionTool({ name: 'lookup', description: 'Looks a thing up', inputSchema: { type: 'object', properties: {} }, callback: (input) => (calls.push(input), 'found it') })
    const agent = new Agent({ model, tools: [lookup], printer: false })
    const result = await agent.invoke('Use the tool')
    expect(calls).toHaveLength(1)
    expect(result.stopReason).toBe('endTurn')
    const regions = ((await h.control('/__sim/requests')).requests as { region: string; status: number }[]).map((r) => r.region)
    expect(regions).toContain('us-west-2') // served by the fallback while us-east-1 throttles
  } finally {
    for (const [k, v] of [['AWS_ENDPOINT_URL_BEDROCK_RUNTIME', saved.endpoint], ['AWS_BEARER_TOKEN_BEDROCK', saved.token]] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
})
