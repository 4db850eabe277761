/**
 * Leases through workerd: four worker isolates share one Durable Object namespace, under sustained load, against the
 * simulator's real quotas. Measured per run: the calls the isolates made to the object per request (their own
 * /metrics counters), the upstream throttles, and what was served — with leases and, in the same test, without.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import { startRouter, type RouterProcess } from '../../scripts/router-runtime'
import { CLIENT_KEY, type Simulator } from './harness'

const MODEL = 'us.amazon.nova-lite-v1:0'
const ADMIN = 'admin-key-for-the-lease-test'
const INSTANCES = 4
/** What a run left open when an assertion stopped it (a finished run closes its own). */
const open = new Set<{ close(): Promise<void> }>()
afterEach(async () => {
  for (const x of open) await x.close()
  open.clear()
})

async function run(opts: { leases: boolean | 'auto'; rpm: number; seconds: number; loops: number }) {
  const simulator: Simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2'] })
  open.add(simulator)
  const e = simulator.endpoints
  for (const region of ['us-east-1', 'us-west-2']) {
    await fetch(`${simulator.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region, modelId: MODEL, rpm: opts.rpm }) })
  }
  const pool = {
    strategy: 'rate-limit-aware',
    leases: opts.leases,
    deployments: [
      { id: 'use1', modelId: MODEL, region: 'us-east-1', rpm: opts.rpm, endpoint: e['us-east-1'] },
      { id: 'usw2', modelId: MODEL, region: 'us-west-2', rpm: opts.rpm, endpoint: e['us-west-2'] },
    ],
  }
  const router: RouterProcess = await startRouter({
    instances: INSTANCES,
    vars: {
      ROUTER_CONFIG: JSON.stringify({ pools: { p: pool } }),
      ROUTER_API_KEYS: CLIENT_KEY,
      ROUTER_ADMIN_KEY: ADMIN,
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
    },
  })
  open.add(router)
  const r = router
  const statuses: number[] = []
  const until = Date.now() + opts.seconds * 1000
  // `loops` sequential clients per isolate, for `seconds` (bounded: each loop stops at the deadline).
  await Promise.all(
    Array.from({ length: INSTANCES * opts.loops }, async (_, i) => {
      while (Date.now() < until) {
        const res = await r.instances[i % INSTANCES](`http://router/model/p/converse`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'lease me' }] }], inferenceConfig: { maxTokens: 50 } }),
        })
        await res.arrayBuffer()
        statuses.push(res.status)
        if (res.status === 429) await new Promise((resolve) => setTimeout(resolve, 20)) // a refused client backs off a little
      }
    }),
  )
  await new Promise((resolve) => setTimeout(resolve, 1200)) // the last renewals land
  let calls = 0
  let leaseDecisions = 0
  for (const instance of r.instances) {
    const text = await (await instance('http://router/metrics', { headers: { authorization: `Bearer ${ADMIN}` } })).text()
    for (const m of text.matchAll(/^bedrock_router_state_calls_total\{kind="(\w+)"\} (\d+)$/gm)) {
      if (m[1] === 'acquire' || m[1] === 'report' || m[1] === 'lease') calls += Number(m[2])
      if (m[1] === 'leaseDecisions') leaseDecisions += Number(m[2])
    }
  }
  const sim = (await (await fetch(`${simulator.controlUrl}/__sim/stats`)).json()) as Record<string, Record<string, { accepted: number; rejected: number }>>
  let accepted = 0
  let rejected = 0
  for (const region of Object.values(sim)) for (const m of Object.values(region)) (accepted += m.accepted), (rejected += m.rejected)
  const requests = statuses.length
  for (const x of [router, simulator]) (await x.close(), open.delete(x))
  return { requests, ok: statuses.filter((s) => s === 200).length, refused: statuses.filter((s) => s === 429).length, accepted, rejected, callsPerRequest: calls / requests, leaseShare: leaseDecisions / requests }
}

describe('leases across four isolates (Durable Objects, workerd)', () => {
  it('under the quota: every request served, none throttled upstream, and far fewer object calls per request than without leases', async () => {
    const without = await run({ leases: false, rpm: 100_000, seconds: 4, loops: 4 })
    const withLeases = await run({ leases: true, rpm: 100_000, seconds: 4, loops: 4 })
    // The default: each isolate here takes ~4 sequential clients' requests, far past the rate where leasing pays.
    const auto = await run({ leases: 'auto', rpm: 100_000, seconds: 4, loops: 4 })
    console.log(JSON.stringify({ test: 'leases under quota', without, withLeases, auto }))
    for (const r of [without, withLeases, auto]) {
      expect(r.ok).toBe(r.requests)
      expect(r.rejected).toBe(0)
    }
    expect(without.callsPerRequest).toBeGreaterThanOrEqual(1) // an acquire per request, and reports
    expect(withLeases.leaseShare).toBeGreaterThan(0.8)
    expect(withLeases.callsPerRequest).toBeLessThan(without.callsPerRequest / 3)
    expect(auto.leaseShare).toBeGreaterThan(0.7) // the first period of each isolate asks, before it switches on
    expect(auto.callsPerRequest).toBeLessThan(without.callsPerRequest / 3)
  }, 60_000)

  it('over the quota: never a request the quota refuses, and as much served as without leases', async () => {
    const without = await run({ leases: false, rpm: 150, seconds: 5, loops: 4 })
    const withLeases = await run({ leases: true, rpm: 150, seconds: 5, loops: 4 })
    console.log(JSON.stringify({ test: 'leases over quota', without, withLeases }))
    for (const r of [without, withLeases]) {
      expect(r.rejected).toBe(0) // the router never sent what the quota would refuse
      expect(r.accepted).toBe(r.ok)
      expect(r.refused).toBeGreaterThan(0)
    }
    expect(without.accepted).toBe(300) // the two windows, exactly
    expect(withLeases.accepted).toBeGreaterThanOrEqual(Math.floor(without.accepted * 0.97))
    expect(withLeases.accepted).toBeLessThanOrEqual(300)
    // Refused requests do not each ask the object: its "full" stands for 100 ms.
    expect(withLeases.callsPerRequest).toBeLessThan(without.callsPerRequest / 2)
  }, 60_000)
})
