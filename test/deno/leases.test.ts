/**
 * `deno test`: leases on Deno KV — two instances, each with its own KV handle on one database, each deciding within
 * the slices KV grants (state/leases.ts over DenoKvStateStore, as the Deno entry stacks them). Real time, short
 * renewals. What must hold: never more sent than the rpm (the whole run is inside one 60 s window), nearly all of
 * it served when over the quota, most decisions made without a KV round trip when under it.
 */
import { parseRouterConfig } from '../../src/config/schema'
import type { PoolConfig } from '../../src/config/types'
import type { DeploymentSnapshot } from '../../src/routing/types'
import { DenoKvStateStore } from '../../src/state/deno-kv'
import { LeaseStateStore } from '../../src/state/leases'
import { groupedPools } from './grouped-pools'

declare const Deno: any

function assert(ok: boolean, message: string) {
  if (!ok) throw new Error(message)
}

function leasedPool(rpm: number): PoolConfig {
  const d = (id: string) => ({ id, modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', rpm })
  return parseRouterConfig({ pools: { p: { strategy: 'rate-limit-aware', leases: { renewMs: 100 }, deployments: [d('a'), d('b')] } } }).pools.p
}

/**
 * Two instances, each with its own KV handle on one new database; `requests` requests `spacingMs` apart, request i from
 * instance i mod 2 to pool `poolOf(i)`, every attempt answered with 150 tokens; `check` reads the outcome (sends by
 * deployment, the stores) before the database is closed and removed.
 */
async function twoInstances<T>(poolOf: (i: number) => PoolConfig, requests: number, spacingMs: number, check: (r: { sent: Record<string, number>; stores: LeaseStateStore[] }) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const handles = [await Deno.openKv(path), await Deno.openKv(path)]
  const stores = handles.map((kv: unknown) => new LeaseStateStore(new DenoKvStateStore(kv as never, 'bedrock-router', 30_000)))
  const sent: Record<string, number> = {}
  const reports: Promise<void>[] = []
  try {
    const one = async (i: number) => {
      const store = stores[i % 2]
      const pool = poolOf(i)
      const d = await store.acquire(pool, { inputTokens: 100, maxTokens: 50, stream: false }, [])
      if (d.kind !== 'dispatch') return
      sent[d.deploymentId] = (sent[d.deploymentId] ?? 0) + 1
      reports.push(store.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 100, outputTokens: 50 }, latencyMs: 5 }))
    }
    const inFlight: Promise<void>[] = []
    for (let i = 0; i < requests; i++) {
      inFlight.push(one(i))
      await new Promise((r) => setTimeout(r, spacingMs))
    }
    await Promise.all(inFlight)
    await Promise.all(reports)
    await new Promise((r) => setTimeout(r, 400)) // the last renewals give the slices back
    return await check({ sent, stores })
  } finally {
    for (const kv of handles) kv.close()
    await Deno.remove(path).catch(() => {})
  }
}

function run(rpm: number, requests: number, spacingMs: number) {
  const pool = leasedPool(rpm)
  return twoInstances(() => pool, requests, spacingMs, async ({ sent, stores }) => {
    const snap = (await stores[0].snapshot(pool)) as DeploymentSnapshot[]
    const counters = stores.map((s) => s.counters())
    return { sent: { a: sent.a ?? 0, b: sent.b ?? 0 } as Record<string, number>, snap, local: counters.reduce((n, c) => n + c.leaseDecisions, 0), asked: counters.reduce((n, c) => n + c.objectDecisions, 0) }
  })
}

Deno.test('leases on Deno KV, over the quota: never more than the rpm sent, nearly all of it served', async () => {
  const r = await run(40, 300, 5)
  for (const id of ['a', 'b']) assert(r.sent[id] <= 40, `${id}: ${r.sent[id]} sent, more than its rpm of 40`)
  assert(r.sent.a + r.sent.b >= 76, `only ${r.sent.a + r.sent.b} of 80 served`)
  const inWindow = r.snap.reduce((n, d) => n + d.window.requests, 0)
  assert(inWindow === r.sent.a + r.sent.b, `the window holds ${inWindow}, ${r.sent.a + r.sent.b} were sent (slices not given back?)`)
})

Deno.test('leases on Deno KV, under the quota: every request served, most decided without a KV round trip', async () => {
  const r = await run(10_000, 300, 4)
  assert(r.sent.a + r.sent.b === 300, `${r.sent.a + r.sent.b} of 300 served`)
  assert(r.local > r.asked, `${r.local} decided within slices, ${r.asked} asked KV`)
  const inWindow = r.snap.reduce((n, d) => n + d.window.requests, 0)
  assert(inWindow === 300, `the window holds ${inWindow} of 300 sent`)
})

Deno.test('leases on Deno KV, two pools over one quota group: never more than the group rpm sent in all, nearly all of it served', async () => {
  const pools = groupedPools(40, { renewMs: 100 })
  await twoInstances((i) => ((i >> 1) % 2 ? pools.chat : pools.batch), 300, 5, async ({ sent }) => {
    const total = Object.values(sent).reduce((n, x) => n + x, 0)
    assert(total <= 40, `${total} sent over a group of 40 rpm`)
    assert(total >= 36, `only ${total} of 40 served`)
  })
})

Deno.test('leases on Deno KV, a day quota (tokensPerDay) spent by two instances: never more used than the quota and one request', async () => {
  const pool = parseRouterConfig({ pools: { p: { strategy: 'weighted', leases: { renewMs: 100 }, deployments: [{ id: 'a', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', tokensPerDay: 15_000 }] } } }).pools.p
  await twoInstances(() => pool, 300, 5, async ({ sent, stores }) => {
    const used = (sent.a ?? 0) * 150
    assert(used <= 15_000 + 150, `${used} tokens used of a 15,000 day`)
    assert(used >= 13_500, `only ${used} of 15,000 used`)
    const snap = (await stores[0].snapshot(pool)) as DeploymentSnapshot[]
    assert(snap[0].tokensToday!.used === used, `the day counts ${snap[0].tokensToday!.used}, ${used} were used`)
    assert(snap[0].tokensToday!.held === 0, `${snap[0].tokensToday!.held} still held`)
  })
})

Deno.test('Deno KV: a full prompt-cache affinity map held by two deployments, with leases, stays under 64 KiB per key and every renewal commits', async () => {
  const ids = ['us-east-1-sonnet-45-prov', 'us-west-2-sonnet-45-prov'] // long ids: the map's worst case
  const pool = parseRouterConfig({ pools: { p: { strategy: 'weighted', leases: { renewMs: 500 }, deployments: ids.map((id) => ({ id, modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', rpm: 100_000 })) } } }).pools.p
  const kv = await Deno.openKv(':memory:')
  try {
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    const key = (i: number) => 'p' + (2 ** 52 + i * 7919).toString(36) + '.' + (1000 + i).toString(36)
    for (let r = 0; r < 16; r++) {
      const held = Array.from({ length: 128 }, (_, i) => ({ key: key((r * 64 + (i >> 1)) % 1000), id: ids[i & 1], until: Date.now() + 300_000 }))
      await store.lease(pool, { wants: [], deltas: [], outcomes: [], affinity: { by: 'x', held } }, 1500)
    }
    const d = await store.acquire(pool, { inputTokens: 10, maxTokens: 10, stream: false }, [])
    assert(d.kind === 'dispatch', `acquire: ${d.kind}`)
    let keys = 0
    let largest = 0
    for await (const e of kv.list({ prefix: ['r', 'p'] })) {
      const size = new TextEncoder().encode(JSON.stringify(e.value)).length
      largest = Math.max(largest, size)
      if (e.key[2] === 'a') keys += Object.keys(e.value).length
    }
    assert(keys >= 900, `${keys} keys in the map`)
    assert(largest < 40_000, `the largest value is ${largest} bytes of JSON`)
  } finally {
    kv.close()
  }
})

Deno.test('leases on Deno KV, prompt-cache affinity: prefixes one instance’s requests cached are hits on the other, decided within its slices', async () => {
  const pool = parseRouterConfig({
    pools: { p: { strategy: 'weighted', leases: { renewMs: 100 }, deployments: ['a', 'b', 'c'].map((id) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 100_000 })) } },
  }).pools.p
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const handles = [await Deno.openKv(path), await Deno.openKv(path)]
  const stores = handles.map((kv: unknown) => new LeaseStateStore(new DenoKvStateStore(kv as never, 'bedrock-router', 30_000)))
  const reports: Promise<void>[] = []
  const send = async (i: number, key?: string) => {
    const estimate = { inputTokens: 100, maxTokens: 50, stream: false, ...(key ? { affinity: { lookup: [key], remember: [{ key, ttlMs: 300_000 }] } } : {}) }
    const d = await stores[i].acquire(pool, estimate, [])
    if (d.kind !== 'dispatch') throw new Error(`refused: ${JSON.stringify(d)}`)
    reports.push(stores[i].report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 100, outputTokens: 50 }, latencyMs: 5 }))
    return d
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  try {
    for (let k = 0; k < 60; k++) (await send(k % 2), await sleep(5)) // both instances hold slices
    const holders = new Map<string, string>()
    for (let k = 0; k < 20; k++) {
      holders.set(`kv${k}`, (await send(0, `kv${k}`)).deploymentId)
      await send(1)
      await sleep(5)
    }
    for (let k = 0; k < 40; k++) (await send(k % 2), await sleep(10)) // renewals: instance 0 sends its holders, instance 1 picks them up
    const before = stores[1].counters().leaseDecisions
    let hits = 0
    for (const [key, holder] of holders) {
      const d = await send(1, key)
      if (d.deploymentId === holder && d.affinity === 'hit') hits++
      await sleep(5)
    }
    await Promise.all(reports)
    assert(hits === 20, `${hits} of 20 were hits on instance 1`)
    assert(stores[1].counters().leaseDecisions - before >= 15, 'decided within its slices')
  } finally {
    await sleep(300)
    for (const kv of handles) kv.close()
    await Deno.remove(path).catch(() => {})
  }
})
