/**
 * The dashboard in real headless Chromium: traffic from two clients with a throttling region, then the page, fed only
 * by the admin endpoints, must show that traffic — cost by model and by client equal to /stats, the throttled
 * deployment's throttles in the health table, each failover with its reason — and a screenshot is written.
 */
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import { startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const NOVA = 'us.amazon.nova-lite-v1:0'
const KEYS = { a: 'ber_dash_key_a_0001', b: 'ber_dash_key_b_0002' }
const ADMIN = 'dashboard-admin-key-for-tests'
const sha = (k: string) => createHash('sha256').update(k).digest('hex')
let h: Harness | undefined
let browser: Browser | undefined

beforeAll(async () => {
  browser = (await launchChromium()).browser
  h = await startHarness(
    (e) => ({
      clients: { keys: [{ name: 'team-a', sha256: sha(KEYS.a) }, { name: 'team-b', sha256: sha(KEYS.b) }] },
      pools: {
        sonnet: {
          deployments: [
            { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
          ],
        },
        nova: { deployments: [{ id: 'nova-euw1', modelId: NOVA, region: 'eu-west-1', endpoint: e['eu-west-1'] }] },
      },
    }),
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100' },
  )
})
afterAll(async () => {
  await browser?.close()
  await h?.close()
})

const converse = (key: string, pool: string) =>
  fetch(`${h!.router.url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }], inferenceConfig: { maxTokens: 40 } }),
  }).then(async (res) => (await res.arrayBuffer(), res))
const stats = async (query: string) => (await (await fetch(`${h!.router.url}/stats?${query}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any

it('shows the traffic sent: cost by model and client as /stats says, throttles where they happened, failovers with reasons', async () => {
  await h!.control('/__sim/rules', { region: 'us-east-1', modelId: SONNET, fault: 'throttle', times: 2 })
  let sent = 0
  for (let i = 0; i < 5; i++) sent += Number((await converse(KEYS.a, 'sonnet')).ok)
  for (let i = 0; i < 4; i++) sent += Number((await converse(KEYS.b, 'nova')).ok)
  for (let i = 0; i < 2; i++) sent += Number((await converse(KEYS.b, 'sonnet')).ok)
  expect(sent).toBe(11)
  for (let i = 0; i < 50 && (await stats('since=1h')).total.requests < sent; i++) await new Promise((r) => setTimeout(r, 100))
  const [byModel, byClient] = await Promise.all([stats('since=24h&by=model'), stats('since=24h&by=client')])
  expect(byModel.total.requests).toBe(sent)

  const tab = await browser!.newPage({ viewport: { width: 1000, height: 1100 } })
  const errors: string[] = []
  tab.on('pageerror', (e) => errors.push(String(e)))
  await tab.goto(`${h!.router.url}/dashboard`)
  await tab.fill('#key', ADMIN)
  await tab.click('#load')
  await tab.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
  // What the charts hold, read from the page (expressions evaluated in the page: this file has no DOM types).
  const page = (await tab.evaluate(`(() => {
    const bars = (sel) => [...document.querySelectorAll(sel)].map((r) => ({ ...r.dataset }))
    return {
      cost: bars('#cost-by-model rect'),
      clients: bars('#by-client rect'),
      latency: bars('#latency rect'),
      health: [...document.querySelectorAll('#health tr[data-deployment]')].map((tr) => ({ ...tr.dataset, text: tr.textContent })),
      failovers: [...document.querySelectorAll('#failovers tr')].slice(1).map((tr) => tr.textContent),
    }
  })()`)) as { cost: Record<string, string>[]; clients: Record<string, string>[]; latency: Record<string, string>[]; health: Record<string, string>[]; failovers: string[] }

  for (const g of byModel.groups) {
    if (g.keys.model === '-') continue
    const drawn = page.cost.filter((b) => b.model === g.keys.model).reduce((s, b) => s + Number(b.cost), 0)
    expect(drawn).toBeCloseTo(g.costUsd, 12)
    expect(page.cost.filter((b) => b.model === g.keys.model).reduce((s, b) => s + Number(b.requests), 0)).toBe(g.requests)
  }
  expect(new Set(page.cost.map((b) => b.model))).toEqual(new Set([SONNET, NOVA]))
  for (const g of byClient.groups) {
    const bar = page.clients.find((b) => b.client === g.keys.client)!
    expect(Number(bar.cost)).toBeCloseTo(g.costUsd, 12)
    expect(Number(bar.requests)).toBe(g.requests)
  }
  expect(page.clients.map((b) => b.client).sort()).toEqual(['team-a', 'team-b'])
  const throttled = page.health.find((r) => r.deployment === 'sonnet-use1')!
  expect(Number(throttled.throttles)).toBeGreaterThan(0)
  expect(page.failovers.length).toBe(Number(throttled.throttles))
  for (const f of page.failovers) expect(f).toMatch(/sonnetsonnet-use1throttled \(ThrottlingException\)sonnet-usw2/)
  // Latency bars for each deployment that served, at /stats' percentiles.
  const byDeployment = await stats('since=24h&by=deployment')
  const served = byDeployment.groups.filter((g: any) => g.latencyMs.p50 !== null && g.keys.deployment !== '-')
  expect(served.length).toBeGreaterThanOrEqual(2)
  for (const g of served) {
    const p95 = page.latency.find((b) => b.deployment === g.keys.deployment && b.quantile === 'p95')!
    expect(Number(p95.ms)).toBe(g.latencyMs.p95)
  }
  expect(page.latency.filter((b) => b.quantile === 'p50')).toHaveLength(served.length)
  await tab.screenshot({ path: join(tmpdir(), 'dashboard.png'), fullPage: true })
  expect(errors).toEqual([])
}, 60_000)

it('the page holds no data: without the admin key it shows the refusal', async () => {
  const tab = await browser!.newPage()
  await tab.goto(`${h!.router.url}/dashboard`)
  await tab.fill('#key', KEYS.a)
  await tab.click('#load')
  await tab.waitForFunction("/HTTP 40[13]/.test(document.getElementById('status').textContent)", undefined, { timeout: 10_000 })
  expect(await tab.textContent('#health')).toBe('')
})
