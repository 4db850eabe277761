/**
 * Accounting end to end: traffic from two clients through three front doors (converse, SSE streams, cached prompts),
 * with a throttling region, then /stats, its CSV and /health/deployments must answer "what did client X cost on
 * model Y", "which deployment is unhealthy and why" and "what does the router add" with the numbers the responses
 * themselves reported (their x-router-cost-usd headers and stream accounting comments).
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const NOVA = 'us.amazon.nova-lite-v1:0'
const KEYS = { a: 'ber_stats_key_a_0001', b: 'ber_stats_key_b_0002', admin: 'ber_stats_admin_0003' }
const ADMIN = 'router-admin-key-for-tests'
const sha = (k: string) => createHash('sha256').update(k).digest('hex')
let h: Harness

beforeAll(async () => {
  h = await startHarness(
    (e) => ({
      clients: {
        keys: [
          { name: 'team-a', sha256: sha(KEYS.a), team: 'alpha' },
          { name: 'team-b', sha256: sha(KEYS.b) },
          { name: 'ops', sha256: sha(KEYS.admin), admin: true },
        ],
      },
      pools: {
        sonnet: {
          strategy: 'weighted',
          deployments: [
            { id: 'sonnet-use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'sonnet-usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
          ],
        },
        nova: { deployments: [{ id: 'nova-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] }] },
      },
    }),
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100' },
  )
})
afterAll(() => h?.close())

interface Sent {
  client: string
  model: string
  deployment: string | null
  costUsd: number
  failovers: number
  status: number
}
const sent: Sent[] = []

async function converse(key: string, client: string, pool: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await fetch(`${h.router.url}/model/${pool}/converse`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const json = (await res.json()) as any
  const failovers = res.headers.get('x-router-failovers')?.split(', ').length ?? 0
  sent.push({ client, model: res.headers.get('x-router-model') ?? '-', deployment: res.headers.get('x-router-deployment'), costUsd: Number(res.headers.get('x-router-cost-usd') ?? 0), failovers, status: res.status })
  return json
}

async function sseStream(key: string, client: string, pool: string, path: string, body: unknown) {
  const res = await fetch(`${h.router.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify(body) })
  const text = await res.text()
  const accounting = JSON.parse(/^: x-router-accounting (.*)$/m.exec(text)![1])
  sent.push({ client, model: res.headers.get('x-router-model')!, deployment: res.headers.get('x-router-deployment'), costUsd: accounting.costUsd, failovers: 0, status: res.status })
  return accounting
}

const admin = (path: string, key = ADMIN) => fetch(`${h.router.url}${path}`, { headers: { authorization: `Bearer ${key}` } })
const hello = { messages: [{ role: 'user', content: [{ text: 'Hello' }] }], inferenceConfig: { maxTokens: 50 } }
const cached = {
  model: 'sonnet',
  max_tokens: 50,
  system: [{ type: 'text', text: 'You are a careful assistant. '.repeat(200), cache_control: { type: 'ephemeral' } }],
  messages: [{ role: 'user', content: 'Hello' }],
}

/** The Anthropic Messages door (InvokeModel upstream: Claude's prompt cache). */
async function messages(key: string, client: string, body: unknown) {
  const res = await fetch(`${h.router.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = (await res.json()) as any
  const failovers = res.headers.get('x-router-failovers')?.split(', ').length ?? 0
  sent.push({ client, model: res.headers.get('x-router-model') ?? '-', deployment: res.headers.get('x-router-deployment'), costUsd: Number(res.headers.get('x-router-cost-usd') ?? 0), failovers, status: res.status })
  return json
}

async function statsUntil(path: string, requests: number) {
  for (let i = 0; i < 100; i++) {
    const body = (await (await admin(path)).json()) as any
    if (body.total.requests >= requests) return body
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`stats never reached ${requests} requests`)
}

describe('accounting: /stats, CSV and /health/deployments match the traffic sent', () => {
  beforeAll(async () => {
    // us-east-1 throttles Sonnet: requests fail over to the fallback in us-west-2 (after the first throttle the router
    // paces us-east-1, so how many more try it first is the router's call: the responses say).
    await h.control('/__sim/rules', { region: 'us-east-1', modelId: SONNET, fault: 'throttle', times: 3 })
    for (let i = 0; i < 4; i++) await converse(KEYS.a, 'team-a', 'sonnet', hello, { 'x-router-tags': 'feature=chat' })
    const write = await messages(KEYS.a, 'team-a', cached)
    const read = await messages(KEYS.a, 'team-a', cached)
    expect(write.usage.cache_creation_input_tokens).toBeGreaterThan(0)
    expect(read.usage.cache_read_input_tokens).toBeGreaterThan(0)
    for (let i = 0; i < 3; i++) await converse(KEYS.b, 'team-b', 'nova', { ...hello, requestMetadata: { feature: 'search' } })
    await sseStream(KEYS.b, 'team-b', 'nova', '/model/nova/converse-stream', hello)
    await sseStream(KEYS.a, 'team-a', 'sonnet', '/v1/chat/completions', { model: 'sonnet', stream: true, stream_options: { include_usage: true }, max_tokens: 50, messages: [{ role: 'user', content: 'Hello' }] })
  })

  it('what did each client cost on each model: the sum of what every response said it cost', async () => {
    const stats = await statsUntil('/stats?since=1h&by=client,model', sent.length)
    expect(stats.total.requests).toBe(sent.length)
    expect(stats.total.successes).toBe(sent.length)
    for (const client of ['team-a', 'team-b']) {
      for (const model of [SONNET, NOVA]) {
        const mine = sent.filter((s) => s.client === client && s.model === model)
        const group = stats.groups.find((g: any) => g.keys.client === client && g.keys.model === model)
        if (mine.length === 0) {
          expect(group).toBeUndefined()
          continue
        }
        expect(group.requests).toBe(mine.length)
        const expected = mine.reduce((s, x) => s + x.costUsd, 0)
        expect(Math.abs(group.costUsd - expected)).toBeLessThan(expected * 1e-4) // headers carry 6 significant digits
      }
    }
    // Cached tokens were counted (and priced) apart from fresh input.
    expect(stats.total.tokens.cacheWrite).toBeGreaterThan(0)
    expect(stats.total.tokens.cacheRead).toBeGreaterThan(0)
    const failovers = sent.reduce((s, x) => s + x.failovers, 0)
    expect(failovers).toBeGreaterThan(0)
    expect(stats.total.failovers).toBe(failovers)
    expect(stats.total.throttles.upstream).toBe(failovers)
    expect(stats.recentFailovers).toHaveLength(failovers)
    expect(stats.recentFailovers[0]).toMatchObject({ pool: 'sonnet', from: 'sonnet-use1', class: 'throttled', servedBy: 'sonnet-usw2' })
  })

  it('tags from x-router-tags and Bedrock requestMetadata; streams have time to first token', async () => {
    const byTag = (await (await admin('/stats?since=1h&by=tag')).json()) as any
    expect(byTag.groups.find((g: any) => g.keys.tag === 'feature=chat').requests).toBe(4)
    expect(byTag.groups.find((g: any) => g.keys.tag === 'feature=search').requests).toBe(3)
    const byTeam = (await (await admin('/stats?since=1h&by=team')).json()) as any
    expect(Object.fromEntries(byTeam.groups.map((g: any) => [g.keys.team, g.requests]))).toEqual({ alpha: sent.filter((s) => s.client === 'team-a').length, '-': sent.filter((s) => s.client === 'team-b').length })
    const filtered = (await (await admin('/stats?since=1h&client=team-b&by=frontDoor')).json()) as any
    expect(filtered.total.requests).toBe(4)
    expect(filtered.groups.map((g: any) => g.keys.frontDoor)).toEqual(['bedrock'])
    const doors = (await (await admin('/stats?since=1h&by=frontDoor')).json()) as any
    const openai = doors.groups.find((g: any) => g.keys.frontDoor === 'openai')
    expect(openai.requests).toBe(1)
    expect(openai.ttftMs.p50).toBeGreaterThan(0)
    expect(doors.total.routerOverheadMs.p50).not.toBeNull()
  })

  it('which deployment is unhealthy and why: throttles counted where they happened, per deployment', async () => {
    const stats = (await (await admin('/stats?since=1h&by=deployment')).json()) as any
    const use1 = stats.groups.find((g: any) => g.keys.deployment === 'sonnet-use1')
    const failovers = sent.reduce((s, x) => s + x.failovers, 0)
    expect(use1.throttles.upstream).toBe(failovers)
    expect(use1.failovers).toBe(failovers)
    const health = (await (await admin('/health/deployments')).json()) as any
    const d = health.deployments.find((x: any) => x.id === 'sonnet-use1')
    expect(d).toMatchObject({ pool: 'sonnet', region: 'us-east-1', breaker: 'closed', lastHour: { upstreamThrottles: failovers } })
    expect(d.softReasons).toContain('paced') // throttled just now: its send rate is cut
    const usw2 = health.deployments.find((x: any) => x.id === 'sonnet-usw2')
    expect(usw2.lastHour.requests).toBe(sent.filter((s) => s.deployment === 'sonnet-usw2').length)
    expect(usw2.lastHour.latencyMs.p50).toBeGreaterThan(0)
  })

  it('CSV for spreadsheets: the same figures, hour by hour', async () => {
    const res = await admin('/stats?since=1h&by=client&bucket=hour&format=csv')
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
    const [header, ...lines] = (await res.text()).trim().split('\r\n')
    const cols = header.split(',')
    expect(cols.slice(0, 3)).toEqual(['period', 'client', 'requests'])
    const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])))
    const total = rows.reduce((s, r) => s + Number(r.requests), 0)
    expect(total).toBe(sent.length)
    const b = rows.filter((r) => r.client === 'team-b').reduce((s, r) => s + Number(r.costUsd), 0)
    const expected = sent.filter((s) => s.client === 'team-b').reduce((s, x) => s + x.costUsd, 0)
    expect(Math.abs(b - expected)).toBeLessThan(expected * 1e-4)
  })

  it('/metrics: Prometheus text with this isolate’s counters and the day’s shared totals, both matching the traffic', async () => {
    const res = await admin('/metrics')
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/)
    const text = await res.text()
    const samples = text.split('\n').filter((l) => l && !l.startsWith('#'))
    const sum = (name: string, filter = '') => samples.filter((l) => l.startsWith(name + '{') && l.includes(filter)).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0)
    // The harness runs one isolate: its counters are everything sent.
    expect(sum('bedrock_router_requests_total')).toBe(sent.length)
    expect(sum('bedrock_router_global_requests_today')).toBe(sent.length)
    const expectedA = sent.filter((s) => s.client === 'team-a').reduce((s, x) => s + x.costUsd, 0)
    expect(Math.abs(sum('bedrock_router_global_cost_usd_today', 'client="team-a"') - expectedA)).toBeLessThan(expectedA * 1e-4)
    expect(sum('bedrock_router_upstream_throttles_total', 'deployment="sonnet-use1"')).toBe(sent.reduce((s, x) => s + x.failovers, 0))
    expect(sum('bedrock_router_request_duration_ms_count')).toBe(sent.length)
    expect(samples).toContain('bedrock_router_deployment_usable{pool="nova",deployment="nova-use1"} 1')
    expect((await admin('/metrics', KEYS.a)).status).toBe(403)
  })

  it('admin only, and bad queries are clear 400s', async () => {
    expect((await fetch(`${h.router.url}/stats`)).status).toBe(401)
    expect((await admin('/stats', KEYS.a)).status).toBe(403)
    expect((await admin('/stats', 'wrong')).status).toBe(401)
    expect((await admin('/stats?since=1h', KEYS.admin)).status).toBe(200)
    const bad = await admin('/stats?by=colour')
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as any).error.message).toMatch(/by may list pool, deployment/)
    expect((await admin('/stats?since=forever')).status).toBe(400)
    expect((await admin('/stats?from=2026-13-45')).status).toBe(400)
    expect((await admin('/health/deployments', KEYS.b)).status).toBe(403)
  })
})

describe('service tiers', () => {
  it('a Priority request costs the standard rate × 1.75, a Flex one × 0.5 (the same usage)', async () => {
    const ask = async (tier?: string) => {
      const res = await fetch(`${h.router.url}/model/nova/converse`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEYS.b}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...hello, ...(tier ? { serviceTier: { type: tier } } : {}) }),
      })
      const body = (await res.json()) as any
      return { cost: Number(res.headers.get('x-router-cost-usd')), usage: body.usage }
    }
    const standard = await ask()
    const priority = await ask('priority')
    const flex = await ask('flex')
    expect(priority.usage).toEqual(standard.usage)
    expect(priority.cost / standard.cost).toBeCloseTo(1.75, 4)
    expect(flex.cost / standard.cost).toBeCloseTo(0.5, 4)
  })
})
