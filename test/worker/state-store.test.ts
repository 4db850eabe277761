/**
 * The state stores inside workerd: the Durable Object's persistence and alarm, the fail-open path when the
 * shared store hangs, and the hot path's single state round trip per attempt.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { createApp } from '../../src/app'
import { parseRouterConfig } from '../../src/config/schema'
import type { PoolConfig } from '../../src/config/types'
import type { AttemptOutcome, Decision, RequestEstimate } from '../../src/routing/types'
import type { RouterStateObject } from '../../src/state/durable-object'
import { DurableObjectStateStore } from '../../src/state/durable-object-store'
import { FailOpenStateStore } from '../../src/state/fail-open'
import { fingerprintOf, UNKNOWN_CONFIG, type PoolRef } from '../../src/state/pool-ref'
import { MemoryStateStore } from '../../src/state/memory'
import type { StateStore } from '../../src/state/types'

const pool: PoolConfig = parseRouterConfig({
  pools: {
    p: {
      strategy: 'rate-limit-aware',
      deployments: [
        { id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 2 },
        { id: 'b', modelId: 'amazon.nova-micro-v1:0', region: 'us-west-2', rpm: 1 },
      ],
    },
  },
}).pools.p
const estimate: RequestEstimate = { inputTokens: 10, maxTokens: 10, stream: false }
const namespace = () => (env as unknown as { ROUTER_STATE: DurableObjectNamespace<RouterStateObject> }).ROUTER_STATE

describe('Durable Object backend', () => {
  it('reserves atomically and persists windows in SQLite across a restart of the object', async () => {
    const store = new DurableObjectStateStore(namespace())
    const decisions = await Promise.all([1, 2, 3, 4].map(() => store.acquire(pool, estimate, [])))
    expect(decisions.filter((d) => d.kind === 'dispatch')).toHaveLength(3)
    expect(decisions.filter((d) => d.kind === 'reject')).toHaveLength(1)
    const stub = namespace().get(namespace().idFromName('p'))
    // Window bookkeeping is written in batches (within 250 ms); flush now to look at it.
    const persisted = await runInDurableObject(stub, (instance: RouterStateObject, state) =>
      (instance.flush(), JSON.parse(state.storage.sql.exec<{ state: string }>('SELECT state FROM pool_state WHERE name = ?', 'p').one().state)),
    )
    expect(Object.keys(persisted.deployments).sort()).toEqual(['a', 'b'])
    // A fresh instance over the same storage (what a restart gives) loads the windows: still full.
    const reloaded = await runInDurableObject(stub, async (_instance, state) => {
      const { RouterStateObject } = await import('../../src/state/durable-object')
      const fresh = new RouterStateObject(state, {})
      await state.blockConcurrencyWhile(async () => {})
      return fresh.acquire(pool, estimate, []) as Decision
    })
    expect(reloaded.kind).toBe('reject')
  })

  it('writes at once when an outcome may change a breaker; batches plain bookkeeping', async () => {
    const stub = namespace().get(namespace().idFromName('q'))
    const q = { ...pool, name: 'q' }
    const rows = () => runInDurableObject(stub, (_i, state) => state.storage.sql.exec('SELECT name FROM pool_state WHERE name = ?', 'q').toArray().length)
    const first = (await stub.acquire(q, estimate, [])) as Decision
    expect(await rows()).toBe(0) // reservation only: not yet written
    if (first.kind !== 'dispatch') throw new Error('expected dispatch')
    await stub.report(q, [{ deploymentId: first.deploymentId, reservation: first.reservation, result: { class: 'unavailable', status: 503 } }])
    expect(await rows()).toBe(1) // a failure: written at once
    await new Promise((r) => setTimeout(r, 400))
    expect(await rows()).toBe(1)
  })

  it('its alarm drops pools idle for an hour', async () => {
    const stub = namespace().get(namespace().idFromName('p'))
    await stub.acquire(pool, estimate, [])
    await runInDurableObject(stub, (instance: RouterStateObject) => instance.flush())
    await runInDurableObject(stub, (_i, state) => state.storage.sql.exec('UPDATE pool_state SET updated_at = 0'))
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    const rows = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec('SELECT name FROM pool_state').toArray())
    expect(rows).toEqual([])
  })
})

describe('the pool config sent to the Durable Object by fingerprint', () => {
  it('carries the config on the first call only; an object that does not know it says so, changes nothing, and gets it again', async () => {
    const seen: Array<{ config: boolean }> = []
    let knows = false
    const fakeObject = {
      acquire: async (ref: PoolRef) => {
        seen.push({ config: ref.config !== undefined })
        if (ref.config) knows = true
        return knows ? { kind: 'dispatch', deploymentId: 'a', reservation: { deploymentId: 'a', at: 0, tokens: 1 }, reason: 'x' } : UNKNOWN_CONFIG
      },
      report: async () => {},
      snapshot: async () => [],
    }
    const ns = { idFromName: (n: string) => n, get: () => fakeObject } as unknown as DurableObjectNamespace<RouterStateObject>
    const store = new DurableObjectStateStore(ns)
    for (let i = 0; i < 3; i++) expect((await store.acquire(pool, estimate, [])).kind).toBe('dispatch')
    expect(seen).toEqual([{ config: true }, { config: false }, { config: false }])
    knows = false // the object restarted: it no longer knows the fingerprint
    expect((await store.acquire(pool, estimate, [])).kind).toBe('dispatch')
    expect(seen.slice(3)).toEqual([{ config: false }, { config: true }])
  })

  it('the object: a fingerprint it has not been sent → UNKNOWN_CONFIG and no reservation; after the config, the fingerprint alone decides', async () => {
    const stub = namespace().get(namespace().idFromName('fp'))
    const fp = { ...pool, name: 'fp' }
    const ref = { name: 'fp', fingerprint: `fp:${fingerprintOf(fp)}` }
    expect(await stub.acquire(ref, estimate, [])).toBe(UNKNOWN_CONFIG)
    expect(await stub.report(ref, [{ deploymentId: 'a', result: { class: 'success', status: 200 }, usage: { inputTokens: 1, outputTokens: 1 } }])).toBe(UNKNOWN_CONFIG)
    expect(((await stub.acquire({ ...ref, config: fp }, estimate, [])) as Decision).kind).toBe('dispatch')
    expect(((await stub.acquire(ref, estimate, [])) as Decision).kind).toBe('dispatch')
    // Three rpm in all (2 + 1): the unknown-config calls reserved nothing, the fourth call is refused.
    expect(((await stub.acquire(ref, estimate, [])) as Decision).kind).toBe('dispatch')
    expect(((await stub.acquire(ref, estimate, [])) as Decision).kind).toBe('reject')
  })

  it('fingerprints differ when the config does, and are stable for one config object', () => {
    const other = { ...pool, deployments: pool.deployments.map((d) => ({ ...d, rpm: 99 })) }
    expect(fingerprintOf(pool)).toBe(fingerprintOf(pool))
    expect(fingerprintOf(other)).not.toBe(fingerprintOf(pool))
    expect(fingerprintOf({ ...pool })).toBe(fingerprintOf(pool)) // same content, another object: same fingerprint
  })
})

describe('report batching in the Durable Object client', () => {
  it('sends reports along with the next acquire, or in one RPC after a short wait', async () => {
    const calls: Array<[string, number]> = []
    const fakeObject = {
      acquire: async (_p: PoolConfig, _e: RequestEstimate, _t: string[], outcomes: AttemptOutcome[]) => (calls.push(['acquire', outcomes.length]), { kind: 'dispatch', deploymentId: 'a', reservation: { deploymentId: 'a', at: 0, tokens: 1 }, reason: 'x' }),
      report: async (_p: PoolConfig, outcomes: AttemptOutcome[]) => void calls.push(['report', outcomes.length]),
      snapshot: async () => [],
    }
    const ns = { idFromName: (n: string) => n, get: () => fakeObject } as unknown as DurableObjectNamespace<RouterStateObject>
    const store = new DurableObjectStateStore(ns)
    const outcome: AttemptOutcome = { deploymentId: 'a', result: { class: 'success', status: 200 } }
    const r1 = store.report(pool, outcome)
    const r2 = store.report(pool, outcome)
    await store.acquire(pool, estimate, [])
    await Promise.all([r1, r2])
    expect(calls).toEqual([['acquire', 2]]) // both reports rode along; no report RPC
    await Promise.all([store.report(pool, outcome), store.report(pool, outcome), store.report(pool, outcome)])
    expect(calls).toEqual([['acquire', 2], ['report', 3]]) // one RPC for three reports
  })
})

const NO_STATS = { addStats: async () => {}, readStats: async () => ({ rows: [], failovers: [] }) }

describe('fail open when the shared store is slow or down', () => {
  const hanging: StateStore = {
    acquire: () => new Promise<Decision>(() => {}),
    report: () => new Promise<void>(() => {}),
    snapshot: () => new Promise<unknown>(() => {}),
    ...NO_STATS,
  }

  it('decides on the local estimate after the timeout, and skips the dead store for a while', async () => {
    const local = new MemoryStateStore()
    const store = new FailOpenStateStore(hanging, local, 30, 10_000)
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const started = Date.now()
    const first = await store.acquire(pool, estimate, [])
    expect(first.kind).toBe('dispatch')
    expect(Date.now() - started).toBeLessThan(5_000) // bounded by the 30 ms timeout, never hung
    const second = await store.acquire(pool, estimate, [])
    expect(second.kind).toBe('dispatch')
    expect(warn).toHaveBeenCalledTimes(1)
    // Local limits still apply: rpm 2 + 1.
    expect((await store.acquire(pool, estimate, [])).kind).toBe('dispatch')
    expect((await store.acquire(pool, estimate, [])).kind).toBe('reject')
    // Outcomes of local reservations go back to the local store, not to the dead one.
    if (first.kind === 'dispatch') {
      await store.report(pool, { deploymentId: first.deploymentId, reservation: first.reservation, result: { class: 'success', status: 200 } })
    }
    warn.mockRestore()
  })

  it('an outcome handed to the shared store is not reported to it a second time when it fails', async () => {
    const calls: string[] = []
    const flaky: StateStore = {
      acquire: async (_p, _e, _t, previous) => (calls.push(`acquire:${previous?.result.class}`), Promise.reject(new Error('overloaded'))),
      report: async (_p, o) => void calls.push(`report:${o.result.class}`),
      snapshot: async () => ({}),
      ...NO_STATS,
    }
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const store = new FailOpenStateStore(flaky, new MemoryStateStore(), 1000)
    const previous: AttemptOutcome = { deploymentId: 'a', reservation: { deploymentId: 'a', at: Date.now(), tokens: 1 }, result: { class: 'unavailable', status: 503 } }
    expect((await store.acquire(pool, estimate, ['a'], previous)).kind).toBe('dispatch')
    expect(calls).toEqual(['acquire:unavailable'])
  })

  it('a store that throws is the same as one that hangs', async () => {
    const failing: StateStore = { acquire: () => Promise.reject(new Error('overloaded')), report: async () => {}, snapshot: async () => ({}), ...NO_STATS }
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    expect((await new FailOpenStateStore(failing, new MemoryStateStore(), 1000).acquire(pool, estimate, [])).kind).toBe('dispatch')
  })
})

describe('hot path', () => {
  it('makes exactly one state call before the upstream call, and reports after', async () => {
    const calls: string[] = []
    const inner = new MemoryStateStore()
    const counting: StateStore = {
      acquire: (...args) => (calls.push('acquire'), inner.acquire(...args)),
      report: (p, o: AttemptOutcome) => (calls.push('report'), inner.report(p, o)),
      snapshot: (p) => inner.snapshot(p),
      addStats: (b) => inner.addStats(b),
      readStats: (f, t) => inner.readStats(f, t),
    }
    const fetchSpy = vi.spyOn(globalThis, 'fetch').mockImplementation(async () => {
      calls.push('upstream')
      return new Response(JSON.stringify({ output: { message: { role: 'assistant', content: [{ text: 'hi' }] } }, stopReason: 'end_turn', usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 }, metrics: { latencyMs: 1 } }), { headers: { 'content-type': 'application/json' } })
    })
    const app = createApp({ stateStore: () => counting })
    const res = await app.request(
      '/model/p/converse',
      { method: 'POST', headers: { authorization: 'Bearer k' }, body: JSON.stringify({ messages: [] }) },
      { ROUTER_API_KEYS: 'k', ROUTER_CONFIG: JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }] } } }), AWS_BEARER_TOKEN_BEDROCK: 'x' },
    )
    expect(res.status).toBe(200)
    await new Promise((r) => setTimeout(r, 10))
    expect(calls).toEqual(['acquire', 'upstream', 'report'])
    fetchSpy.mockRestore()
  })
})

describe('quota groups in the Durable Object', () => {
  it('the group window is kept beside the pools and survives a restart of the object', async () => {
    const member = (id: string) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 2, quotaGroup: 'g' })
    const { pools } = parseRouterConfig({ pools: { chat: { strategy: 'rate-limit-aware', deployments: [member('chat-1')] }, batch: { strategy: 'rate-limit-aware', deployments: [member('batch-1')] } } })
    const store = new DurableObjectStateStore(namespace())
    const kinds = [await store.acquire(pools.chat, estimate, []), await store.acquire(pools.batch, estimate, []), await store.acquire(pools.chat, estimate, [])].map((d) => d.kind)
    expect(kinds).toEqual(['dispatch', 'dispatch', 'reject'])
    const stub = namespace().get(namespace().idFromName(pools.chat.stateKey!))
    const reloaded = await runInDurableObject(stub, async (instance: RouterStateObject, state) => {
      instance.flush()
      const { RouterStateObject } = await import('../../src/state/durable-object')
      const fresh = new RouterStateObject(state, {})
      await state.blockConcurrencyWhile(async () => {})
      return fresh.acquire(pools.batch, estimate, []) as Decision
    })
    expect(reloaded.kind).toBe('reject') // the fresh object read the group's window back: still full
  })
})

describe('day ledgers in the Durable Object', () => {
  const success = (d: Decision): AttemptOutcome[] => {
    if (d.kind !== 'dispatch') throw new Error(`expected dispatch, got ${d.kind}`)
    return [{ deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 10, outputTokens: 10 } }]
  }
  const idle = (stub: DurableObjectStub<RouterStateObject>) =>
    runInDurableObject(stub, (instance: RouterStateObject, state) => (instance.flush(), state.storage.sql.exec('UPDATE pool_state SET updated_at = 0')))
  const restarted = (stub: DurableObjectStub<RouterStateObject>, p: PoolConfig) =>
    runInDurableObject(stub, async (_instance, state) => {
      const { RouterStateObject } = await import('../../src/state/durable-object')
      const fresh = new RouterStateObject(state, {})
      await state.blockConcurrencyWhile(async () => {})
      return fresh.acquire(p, estimate, []) as Decision
    })

  it("a quota group's day is one ledger for its pools, kept beside them: it survives a restart, and an idle hour's alarm keeps it while the day counts", async () => {
    // 20 tokens a request (10 in, 10 out): the group's 40 a day are two requests, whichever pool sends them.
    const member = (id: string) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', tokensPerDay: 40, quotaGroup: 'day' })
    const { pools } = parseRouterConfig({ pools: { chat: { deployments: [member('chat-1')] }, batch: { deployments: [member('batch-1')] } } })
    const stub = namespace().get(namespace().idFromName(pools.chat.stateKey!))
    await stub.report(pools.chat, success((await stub.acquire(pools.chat, estimate, [])) as Decision))
    await stub.report(pools.batch, success((await stub.acquire(pools.batch, estimate, [])) as Decision))
    const spent = (await stub.acquire(pools.chat, estimate, [])) as Decision
    expect(spent).toMatchObject({ kind: 'reject', status: 429 })
    if (spent.kind === 'reject') expect(spent.reason).toMatch(/40 tokens per day are used \(40\)/)
    await idle(stub)
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    const rows = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ name: string }>('SELECT name FROM pool_state ORDER BY name').toArray().map((r) => r.name))
    expect(rows).toEqual(['#quota-group-days']) // the pools' own rows (windows long expired) go; the day stays
    expect((await restarted(stub, pools.batch)).kind).toBe('reject') // a fresh object read the day back: still spent
  })

  it("an idle hour's alarm keeps a pool whose own day quota or budget has spend today (forgetting it would let the day run over)", async () => {
    const { pools } = parseRouterConfig({
      pools: {
        dayq: { deployments: [{ id: 'd', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', tokensPerDay: 20 }] },
        budgeted: { deployments: [{ id: 'b', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', price: { input: 1_000_000, output: 1_000_000 }, budgetUsdPerDay: 20 }] },
      },
    })
    for (const p of [pools.dayq, pools.budgeted]) {
      const stub = namespace().get(namespace().idFromName(p.name))
      await stub.report(p, success((await stub.acquire(p, estimate, [])) as Decision)) // 20 tokens; at $1 a token, $20
      expect(((await stub.acquire(p, estimate, [])) as Decision).kind).toBe('reject')
      await idle(stub)
      await runDurableObjectAlarm(stub)
      expect((await restarted(stub, p)).kind).toBe('reject')
    }
  })
})

describe('two deploys overlapping on one object', () => {
  it("an old and a new config of one pool, alternating: neither prunes the other's deployment state", async () => {
    const stub = namespace().get(namespace().idFromName('overlap'))
    const base = { ...pool, name: 'overlap' }
    const older = { ...base, deployments: [base.deployments[0]] } // only a
    const newer = base // a and b
    const ref = (p: PoolConfig) => ({ name: p.name, fingerprint: `overlap:${fingerprintOf(p)}`, config: p })
    const b1 = (await stub.acquire(ref(newer), estimate, ['a'])) as Decision
    expect(b1.kind === 'dispatch' && b1.deploymentId).toBe('b') // b's window now holds one request
    await stub.acquire(ref(older), estimate, []) // an isolate of the old deploy
    const b2 = (await stub.acquire(ref(newer), estimate, ['a'])) as Decision // b has rpm 1: full, if its state survived
    expect(b2.kind).toBe('reject')
  })
})
