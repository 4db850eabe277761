/**
 * Global state: several worker instances (separate isolates) share one Durable Object namespace. Limits and
 * breakers must hold across all of them, not per isolate.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import { startRouter, type RouterProcess } from '../../scripts/router-runtime'
import { CLIENT_KEY, type Simulator } from './harness'

const MODEL = 'us.amazon.nova-lite-v1:0'
let simulator: Simulator | undefined
let router: RouterProcess | undefined
afterEach(async () => {
  await router?.close()
  await simulator?.close()
  router = simulator = undefined
})

async function setUp(pool: (e: Record<string, string>) => unknown, opts: { instances: number; noSharedState?: boolean; clients?: unknown }) {
  simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2'] })
  router = await startRouter({
    instances: opts.instances,
    noSharedState: opts.noSharedState,
    vars: {
      ROUTER_CONFIG: JSON.stringify({ pools: { p: pool(simulator.endpoints) }, ...(opts.clients ? { clients: opts.clients } : {}) }),
      ROUTER_API_KEYS: CLIENT_KEY,
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
    },
  })
  return { simulator, router }
}

const converse = (r: RouterProcess, instance: number, maxTokens = 100, key = CLIENT_KEY) =>
  r.instances[instance % r.instances.length](`http://router/model/p/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'count me' }] }], inferenceConfig: { maxTokens } }),
  })

async function upstreamCounts(sim: Simulator) {
  const stats = (await (await fetch(`${sim.controlUrl}/__sim/stats`)).json()) as Record<string, Record<string, { accepted: number; rejected: number }>>
  let accepted = 0
  let rejected = 0
  for (const region of Object.values(stats)) for (const m of Object.values(region)) {
    accepted += m.accepted
    rejected += m.rejected
  }
  return { accepted, rejected }
}

const rpmPool = (e: Record<string, string>) => ({
  strategy: 'rate-limit-aware',
  deployments: [
    { id: 'use1', modelId: MODEL, region: 'us-east-1', rpm: 10, endpoint: e['us-east-1'] },
    { id: 'usw2', modelId: MODEL, region: 'us-west-2', rpm: 10, endpoint: e['us-west-2'] },
  ],
})

async function burst(r: RouterProcess, n: number) {
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => converse(r, i)))
  const statuses = await Promise.all(responses.map(async (res) => (await res.arrayBuffer(), res.status)))
  return { ok: statuses.filter((s) => s === 200).length, throttled: responses.filter((r) => r.status === 429) }
}

async function setQuotas(sim: Simulator) {
  for (const region of ['us-east-1', 'us-west-2']) {
    await fetch(`${sim.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region, modelId: MODEL, rpm: 10 }) })
  }
}

describe('Durable Object state shared by four isolates', () => {
  it('60 concurrent requests against 2 × 10 RPM: exactly 20 dispatched and served, 40 answered 429 with Retry-After', async () => {
    const { simulator: sim, router: r } = await setUp(rpmPool, { instances: 4 })
    await setQuotas(sim)
    const { ok, throttled } = await burst(r, 60)
    const upstream = await upstreamCounts(sim)
    expect(upstream.rejected).toBe(0) // the router never sent a request the quota would refuse
    expect(upstream.accepted).toBe(20) // and sent every one that fits
    expect(ok).toBe(20)
    expect(throttled).toHaveLength(40)
    for (const res of throttled) {
      expect(res.headers.get('x-amzn-errortype')).toBe('ThrottlingException')
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
  })

  it('TPM: 60 concurrent requests reserving maxTokens 1000 against 2 × 3000 TPM never overrun the token quota upstream', async () => {
    const { simulator: sim, router: r } = await setUp(
      (e) => ({
        strategy: 'rate-limit-aware',
        deployments: [
          { id: 'use1', modelId: MODEL, region: 'us-east-1', tpm: 3000, endpoint: e['us-east-1'] },
          { id: 'usw2', modelId: MODEL, region: 'us-west-2', tpm: 3000, endpoint: e['us-west-2'] },
        ],
      }),
      { instances: 4 },
    )
    for (const region of ['us-east-1', 'us-west-2']) {
      await fetch(`${sim.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region, modelId: MODEL, tpm: 3000 }) })
    }
    // Streams that take 300 ms hold their quota reservation upstream while in flight, so reservations compete.
    await fetch(`${sim.controlUrl}/__sim/rules`, { method: 'POST', body: JSON.stringify({ fault: 'delay', firstFrameMs: 300 }) })
    const stream = (i: number) =>
      r.instances[i % r.instances.length](`http://router/model/p/converse-stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'count me' }] }], inferenceConfig: { maxTokens: 1000 } }),
      })
    const responses = await Promise.all(Array.from({ length: 60 }, (_, i) => stream(i)))
    const statuses = await Promise.all(responses.map(async (res) => (await res.arrayBuffer(), res.status)))
    const upstream = await upstreamCounts(sim)
    expect(upstream.rejected).toBe(0) // Bedrock's own reservation rule never had to refuse one
    // Each request reserves ~1,003 tokens, so at least 2 fit per deployment at once; reconciliation with the real
    // usage (~20 tokens) frees room for more as answers come back during the burst.
    expect(upstream.accepted).toBeGreaterThanOrEqual(4)
    expect(statuses.filter((s) => s === 200)).toHaveLength(upstream.accepted)
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true)
  })

  it('a quota group: two entries of one us-east-1 quota (10 RPM) share one window over 4 isolates — 10 sent, none throttled upstream; without the group 20 are sent', async () => {
    const twoEntries = (group: boolean) => (e: Record<string, string>) => ({
      strategy: 'rate-limit-aware',
      deployments: ['a', 'b'].map((x) => ({ id: `use1-${x}`, modelId: MODEL, region: 'us-east-1', rpm: 10, endpoint: e['us-east-1'], ...(group ? { quotaGroup: 'use1' } : {}) })),
    })
    for (const group of [true, false]) {
      const { simulator: sim, router: r } = await setUp(twoEntries(group), { instances: 4 })
      await fetch(`${sim.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region: 'us-east-1', modelId: MODEL, rpm: 10 }) })
      const { ok, throttled } = await burst(r, 30)
      const upstream = await upstreamCounts(sim)
      if (group) {
        expect(upstream.rejected).toBe(0)
        expect(upstream.accepted).toBe(10)
        expect(ok).toBe(10)
        expect(throttled).toHaveLength(20)
        expect(throttled[0].headers.get('x-amzn-errortype')).toBe('ThrottlingException')
      } else {
        expect(upstream.accepted + upstream.rejected).toBeGreaterThan(10) // each entry's own window: the shared quota sent twice
        expect(upstream.rejected).toBeGreaterThan(0)
      }
      if (group) {
        // The next setUp replaces these; afterEach closes the last.
        await r.close()
        await sim.close()
      }
    }
  })

  for (const leases of [false, true]) it(`a quota group across two pools${leases ? ', both with leases' : ''}: chat and batch over one us-east-1 quota (10 RPM), 4 isolates — 10 sent in all, none throttled upstream`, async () => {
    simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2'] })
    const e = simulator.endpoints
    const member = (id: string) => ({ id, modelId: MODEL, region: 'us-east-1', rpm: 10, quotaGroup: 'use1', endpoint: e['us-east-1'] })
    const pool = (id: string) => ({ strategy: 'rate-limit-aware', ...(leases ? { leases: true } : {}), deployments: [member(id)] })
    router = await startRouter({
      instances: 4,
      vars: {
        ROUTER_CONFIG: JSON.stringify({ pools: { chat: pool('chat-use1'), batch: pool('batch-use1') } }),
        ROUTER_API_KEYS: CLIENT_KEY,
        AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
      },
    })
    await fetch(`${simulator.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region: 'us-east-1', modelId: MODEL, rpm: 10 }) })
    const r = router
    const send = (i: number) =>
      r.instances[i % 4](`http://router/model/${i % 2 ? 'chat' : 'batch'}/converse`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'count me' }] }], inferenceConfig: { maxTokens: 100 } }),
      })
    const statuses = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const res = await send(i)
      await res.arrayBuffer()
      return res.status
    }))
    const upstream = await upstreamCounts(simulator)
    expect(upstream.rejected).toBe(0)
    expect(upstream.accepted).toBe(10)
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)
    expect(statuses.filter((s) => s === 429)).toHaveLength(20)
  })

  it('the contrast: with per-isolate memory the same burst over-dispatches and upstream throttles', async () => {
    const { simulator: sim, router: r } = await setUp(rpmPool, { instances: 4, noSharedState: true })
    await setQuotas(sim)
    await burst(r, 60)
    const upstream = await upstreamCounts(sim)
    expect(upstream.accepted + upstream.rejected).toBeGreaterThan(20)
    expect(upstream.rejected).toBeGreaterThan(0)
  })

  it('a breaker opened through one isolate keeps the others away from the deployment', async () => {
    const { simulator: sim, router: r } = await setUp(
      (e) => ({
        strategy: 'weighted',
        breaker: { consecutiveFailures: 3, cooldownMs: 60000 },
        deployments: [
          { id: 'use1', modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
        ],
      }),
      { instances: 2 },
    )
    await fetch(`${sim.controlUrl}/__sim/rules`, { method: 'POST', body: JSON.stringify({ region: 'us-east-1', fault: 'error', status: 503, errorType: 'ServiceUnavailableException' }) })
    for (let i = 0; i < 3; i++) {
      const res = await converse(r, 0)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-router-failovers')).toBe('use1=unavailable:ServiceUnavailableException')
    }
    // Isolate 1 never saw those failures itself; the breaker lives in the Durable Object.
    for (let i = 0; i < 3; i++) {
      const res = await converse(r, 1)
      expect(res.status).toBe(200)
      expect(res.headers.get('x-router-deployment')).toBe('usw2')
      expect(res.headers.get('x-router-failovers')).toBeNull()
    }
    const { requests } = (await (await fetch(`${sim.controlUrl}/__sim/requests?region=us-east-1`)).json()) as { requests: unknown[] }
    expect(requests).toHaveLength(3)
    const health = (await (await r.instances[1]('http://router/health', { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()) as any
    expect(health.pools.p.state.find((d: any) => d.id === 'use1').breaker).toBe('open')
  })
})

describe('a client’s own limit shared by four isolates', () => {
  it('40 concurrent requests from a key with rpm 7, over 4 isolates: exactly 7 served, the rest 429 naming the key', async () => {
    const key = 'ber_burst_key_0001'
    const { createHash } = await import('node:crypto')
    const unlimited = (e: Record<string, string>) => ({ deployments: [{ id: 'use1', modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] }, { id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'] }] })
    const { simulator: sim, router: r } = await setUp(unlimited, { instances: 4, clients: { keys: [{ name: 'burst', sha256: createHash('sha256').update(key).digest('hex'), rpm: 7 }] } })
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => converse(r, i, 100, key)))
    const bodies = await Promise.all(responses.map((res) => res.text()))
    const ok = responses.filter((res) => res.status === 200).length
    expect(ok).toBe(7)
    const refused = responses.map((res, i) => ({ res, body: bodies[i] })).filter((x) => x.res.status === 429)
    expect(refused).toHaveLength(33)
    for (const { res, body } of refused) {
      expect(res.headers.get('x-amzn-errortype')).toBe('ThrottlingException')
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(body).toContain('key burst: its own rpm 7 window full')
    }
    expect((await upstreamCounts(sim)).accepted).toBe(7) // nothing refused was sent
  })
})


describe('budgets and team limits shared by four isolates', () => {
  const unlimited = (e: Record<string, string>) => ({ deployments: [{ id: 'use1', modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] }, { id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'] }] })

  it('a USD budget per day: bursts over 4 isolates overshoot it by at most one request’s hold, then 429 until the next UTC day', async () => {
    const key = 'ber_budget_key_0001'
    const { createHash } = await import('node:crypto')
    const budget = 0.0001
    const { simulator: sim, router: r } = await setUp(unlimited, { instances: 4, clients: { keys: [{ name: 'frugal', sha256: createHash('sha256').update(key).digest('hex'), budgetUsdPerDay: budget }] } })
    let spent = 0
    let served = 0
    let last: { status: number; body: string; retryAfter: number }[] = []
    for (let wave = 0; wave < 40; wave++) { // bounded; how many waves it takes depends on how fast settlements land
      const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => converse(r, i, 100, key)))
      last = await Promise.all(responses.map(async (res) => ({ status: res.status, body: await res.text(), retryAfter: Number(res.headers.get('retry-after')) })))
      for (const res of responses) if (res.status === 200) {
        served++
        spent += Number(res.headers.get('x-router-cost-usd'))
      }
      if (last.every((x) => x.status === 429 && x.body.includes('is spent'))) break
      await new Promise((resolve) => setTimeout(resolve, 200)) // let the settlements land
    }
    // Nova Lite: $0.06 / $0.24 per million; a request holds its input estimate + maxTokens 100 at that price.
    const hold = (20 * 0.06 + 100 * 0.24) / 1e6
    expect(served).toBeGreaterThan(5) // settled to real cost, not to the hold: more than budget / hold requests ran
    expect(spent).toBeLessThanOrEqual(budget + hold)
    expect(spent).toBeGreaterThan(budget - hold)
    const untilMidnight = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000 - Date.now()
    for (const x of last) {
      expect(x.status).toBe(429)
      expect(x.body).toContain('key frugal: its own budget of $0.0001 per day is spent')
      expect(Math.abs(x.retryAfter * 1000 - untilMidnight)).toBeLessThan(120_000)
    }
    expect((await upstreamCounts(sim)).accepted).toBe(served) // nothing refused was sent
  })

  it('a team’s rpm is shared by its keys across isolates: exactly the team’s limit served in all, each key within its own', async () => {
    const { createHash } = await import('node:crypto')
    const keys = ['ber_team_key_0001', 'ber_team_key_0002', 'ber_team_key_0003']
    const { router: r } = await setUp(unlimited, {
      instances: 4,
      clients: {
        teams: { web: { rpm: 5 } },
        keys: keys.map((k, i) => ({ name: `web-${i}`, team: 'web', ...(i === 2 ? { rpm: 1 } : {}), sha256: createHash('sha256').update(k).digest('hex') })),
      },
    })
    // Key 2's own rpm 1 binds first, then the team's 5 binds for everyone (in sequence: each refusal is exact).
    expect((await converse(r, 0, 100, keys[2])).status).toBe(200)
    const own = await converse(r, 1, 100, keys[2])
    expect(own.status).toBe(429)
    expect(await own.text()).toContain("key web-2: its own rpm 1 window full")
    // The team's other four slots, raced for by two keys over four isolates: exactly four served.
    const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => converse(r, i, 100, keys[i % 2])))
    const bodies = await Promise.all(responses.map((res) => res.text()))
    expect(responses.filter((res) => res.status === 200)).toHaveLength(4)
    const reasons = bodies.filter((_, i) => responses[i].status === 429)
    expect(reasons).toHaveLength(20)
    for (const body of reasons) expect(body).toMatch(/key web-[01]: its team web's rpm 5 window full/)
  })
})
