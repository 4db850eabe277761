/**
 * `RouterModel` (bedrock-edge-router/strands) with a real Strands Agent of the newest TypeScript SDK, routing in this
 * process against the simulator: a streamed answer, a tool-use loop, failover while a region throttles, CountTokens,
 * a cut stream surfacing as an error, and Strands' own ModelRouter over a RouterModel and a plain BedrockModel.
 */
import { NodeHttpHandler } from '@smithy/node-http-handler'
import { Agent, BedrockModel, FunctionTool, ModelRouter, RoutingCandidate } from '@strands-agents/sdk'
import { expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { RouterModel } from '../../src/strands'
import { simulatorForFile } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const KEYS = { accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY }
const sim = simulatorForFile()
const control = sim.control
const routerModel = (extra: Record<string, unknown> = {}) =>
  new RouterModel({
    deployments: [
      { modelId: SONNET, region: 'us-east-1', endpoint: sim.endpoints['us-east-1'] },
      { modelId: SONNET, region: 'us-west-2', endpoint: sim.endpoints['us-west-2'], fallback: true },
    ],
    strategy: 'rate-limit-aware',
    credentials: KEYS,
    env: {},
    ...extra,
  })
const text = (result: { lastMessage: { content: unknown[] } }) => result.lastMessage.content.map((b) => (b as { text?: string }).text ?? '').join('')

it('an Agent streams its answer through the in-process router; the router says who served it', async () => {
  const model = routerModel()
  const agent = new Agent({ model, printer: false })
  const result = await agent.invoke('Hello')
  expect(text(result)).toMatch(/^Hello from us-east-1/)
  const stats = await model.router.getStats()
  expect(stats).toMatchObject({ requests: 1, successes: 1 })
  expect(stats.ttftMs.p50).not.toBeNull() // it streamed
  expect(model.getConfig().modelId).toBe(SONNET)
})

it('a tool-use loop: the model asks for the tool, the agent calls it, the answer comes back', async () => {
  const calls: unknown[] = []
  const lookup = new FunctionTool({ name: 'lookup', description: 'Looks a thing up', inputSchema: { type: 'object', properties: {} }, callback: (input) => (calls.push(input), 'found it') })
  const agent = new Agent({ model: routerModel(), tools: [lookup], printer: false })
  const result = await agent.invoke('Use the tool')
  expect(calls).toHaveLength(1)
  expect(result.stopReason).toBe('endTurn')
  expect((await control('/__sim/requests')).requests).toHaveLength(2)
})

it('fails over while one region throttles, before the first content', async () => {
  await control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
  const model = routerModel()
  const agent = new Agent({ model, printer: false })
  for (let i = 0; i < 3; i++) expect(text(await agent.invoke('Hello'))).toMatch(/^Hello from us-west-2/)
  expect((await model.router.getStats()).throttles.upstream).toBeGreaterThan(0)
})

it('a stream cut after its first content surfaces as an error, not a silent short answer', async () => {
  await control('/__sim/rules', { fault: 'cut', afterFrames: 3 })
  const agent = new Agent({ model: routerModel(), printer: false })
  const err = await agent.invoke('Hello').catch((e) => e)
  expect(err).toBeInstanceOf(Error)
  expect(String(err.message)).toMatch(/stream|connection|interrupted|upstream/i)
})

it('countTokens goes through Bedrock CountTokens on a deployment of the pool', async () => {
  const model = routerModel({ useNativeTokenCount: true })
  const n = await model.countTokens([{ role: 'user', content: [{ type: 'textBlock', text: 'Hello there' }] } as any])
  expect(n).toBeGreaterThan(0)
  const requests = (await control('/__sim/requests')).requests as { operation: string }[]
  expect(requests.map((r) => r.operation)).toContain('count-tokens')
})

it('composes with Strands’ ModelRouter: when every routed deployment throttles, it switches to a plain BedrockModel', async () => {
  await control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
  await control('/__sim/rules', { region: 'us-west-2', fault: 'throttle' })
  const direct = new BedrockModel({ modelId: SONNET, region: 'eu-west-1', clientConfig: { endpoint: sim.endpoints['eu-west-1'], credentials: KEYS, requestHandler: new NodeHttpHandler(), maxAttempts: 1 } })
  const router = new ModelRouter([new RoutingCandidate({ model: routerModel(), name: 'routed' }), new RoutingCandidate({ model: direct, name: 'direct' })])
  const agent = new Agent({ model: router, printer: false })
  expect(text(await agent.invoke('Hello'))).toMatch(/^Hello from eu-west-1/)
})
