/**
 * Service tiers per pool: `default: 'flex'` sends a pool's background traffic in the Flex tier; `onThrottle:
 * 'priority'` sends the attempt after a throttle in the Priority tier — to the same deployment when it is the only
 * one. The tier is in the body upstream saw, in x-router-service-tier and in the cost. A client's own tier wins.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const MODEL = 'us.amazon.nova-lite-v1:0'
let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => {
    const one = (id: string) => [{ id, modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] }]
    return {
      pools: {
        standard: { deployments: one('std-use1') },
        background: { serviceTier: { default: 'flex' }, deployments: one('bg-use1') },
        urgent: { serviceTier: { onThrottle: 'priority' }, deployments: one('urgent-use1') },
      },
    }
  })
})
afterAll(() => h?.close())

const converse = (pool: string, extra: Record<string, unknown> = {}) =>
  fetch(`${h.router.url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'the same question' }] }], inferenceConfig: { maxTokens: 50 }, ...extra }),
  })

async function upstreamTiers(): Promise<Array<string | undefined>> {
  const { requests } = (await h.control('/__sim/requests')) as { requests: Array<{ body: { serviceTier?: { type?: string } } }> }
  return requests.map((r) => r.body?.serviceTier?.type)
}

it('a pool whose default is flex sends Flex, says so, and prices it at half the standard rate', async () => {
  await h.control('/__sim/reset', {})
  const standard = await converse('standard')
  expect(standard.status).toBe(200)
  expect(standard.headers.get('x-router-service-tier')).toBeNull()
  const flex = await converse('background')
  expect(flex.status).toBe(200)
  expect(flex.headers.get('x-router-service-tier')).toBe('flex')
  expect(await upstreamTiers()).toEqual([undefined, 'flex'])
  const usage = [((await standard.json()) as any).usage, ((await flex.json()) as any).usage]
  expect(usage[1]).toEqual(usage[0]) // same question, same usage: the difference is the tier's price
  expect(Number(flex.headers.get('x-router-cost-usd'))).toBeCloseTo(Number(standard.headers.get('x-router-cost-usd')) * 0.5, 8)
})

it('after a throttle, the next attempt goes in Priority — here to the same, only deployment — and is priced so', async () => {
  await h.control('/__sim/reset', {})
  await h.control('/__sim/rules', { fault: 'throttle', times: 1 })
  const res = await converse('urgent')
  expect(res.status).toBe(200)
  expect(res.headers.get('x-router-attempts')).toBe('2')
  expect(res.headers.get('x-router-failovers')).toBe('urgent-use1=throttled:ThrottlingException')
  expect(res.headers.get('x-router-deployment')).toBe('urgent-use1')
  expect(res.headers.get('x-router-service-tier')).toBe('priority (after a throttle)')
  expect(await upstreamTiers()).toEqual([undefined, 'priority'])
  const body = (await res.json()) as any
  const standardCost = Number((await converse('standard')).headers.get('x-router-cost-usd'))
  expect(body.usage.inputTokens).toBeGreaterThan(0)
  expect(Number(res.headers.get('x-router-cost-usd'))).toBeCloseTo(standardCost * 1.75, 8)
})

it("the client's own tier wins: no escalation, the throttle is the answer when nothing else can serve", async () => {
  await h.control('/__sim/reset', {})
  await h.control('/__sim/rules', { fault: 'throttle', times: 1 })
  const res = await converse('urgent', { serviceTier: { type: 'default' } })
  expect(res.status).toBe(429)
  expect(await upstreamTiers()).toEqual(['default'])
})

it("the OpenAI door's service_tier and the Anthropic door's standard_only are the client's tier: sent as asked, never escalated", async () => {
  await h.control('/__sim/reset', {})
  const openai = await fetch(`${h.router.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'background', service_tier: 'priority', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  })
  expect(openai.status).toBe(200)
  expect(openai.headers.get('x-router-service-tier')).toBeNull() // the client's own tier, not the pool's flex
  await h.control('/__sim/rules', { fault: 'throttle', times: 1 })
  const anthropic = await fetch(`${h.router.url}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'urgent', service_tier: 'standard_only', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  })
  expect(anthropic.status).toBe(429) // standard_only: no Priority retry after the throttle
  expect(await upstreamTiers()).toEqual(['priority', 'default'])
  const bad = await fetch(`${h.router.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'background', service_tier: 'turbo', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  })
  expect(bad.status).toBe(400)
  expect(((await bad.json()) as any).error.message).toMatch(/service_tier/)
})
