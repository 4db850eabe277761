/**
 * `deno test`: how Deno KV holds a pool's state — one key per deployment plus one for the rest, so a large pool
 * stays under KV's 64 KiB per value; a commit rewrites only the keys that changed; a pool kept in the single key
 * of earlier versions is carried over on its first update.
 */
import { DenoKvStateStore } from '../../src/state/deno-kv'
import { parseRouterConfig } from '../../src/config/schema'
import { groupedPools } from './grouped-pools'
import { createPoolState, decide } from '../../src/routing/core'

declare const Deno: any

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message)
}

const poolOf = (n: number) =>
  parseRouterConfig({
    pools: { big: { strategy: 'rate-limit-aware', deployments: Array.from({ length: n }, (_, i) => ({ id: `d${i}`, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 100_000, tpm: 100_000_000 })) } },
  }).pools.big
const estimate = { inputTokens: 10, maxTokens: 10, stream: false }

async function withKv(use: (kv: any) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const kv = await Deno.openKv(path)
  try {
    await use(kv)
  } finally {
    kv.close()
    await Deno.remove(path).catch(() => {})
  }
}

async function entries(kv: any, prefix: unknown[]) {
  const out: Array<{ key: unknown[]; value: unknown; versionstamp: string }> = []
  for await (const e of kv.list({ prefix })) out.push(e)
  return out
}

Deno.test('Deno KV layout: 40 deployments, 2000 decisions spread over a minute: more state than one 64 KiB value holds, one key each, every value far under it', async () => {
  await withKv(async (kv) => {
    const pool = poolOf(40)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    const realNow = Date.now
    let t = realNow()
    Date.now = () => t
    try {
      for (let i = 0; i < 2000; i++) {
        t += 30 // 2000 × 30 ms: a minute of windows, dozens of buckets per deployment
        assert((await store.acquire(pool, estimate, [])).kind === 'dispatch', `decision ${i} was not a dispatch`)
      }
    } finally {
      Date.now = realNow
    }
    const all = await entries(kv, ['r', 'big'])
    const sizes = all.map((e) => new TextEncoder().encode(JSON.stringify(e.value)).length)
    assert(all.length === 41, `expected 41 keys (meta + 40 deployments), got ${all.length}`)
    assert(Math.max(...sizes) < 16 * 1024, `largest value ${Math.max(...sizes)} bytes`)
    const total = sizes.reduce((a, b) => a + b, 0)
    assert(total > 64 * 1024, `only ${total} bytes in all: this pool would still fit one value, the test proves nothing`)
    console.log(`kv layout: 41 keys, ${total} bytes in all, largest ${Math.max(...sizes)}`)
  })
})

Deno.test('Deno KV layout: a decision rewrites only the keys it changed', async () => {
  await withKv(async (kv) => {
    const pool = poolOf(12)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    await store.acquire(pool, estimate, []) // creates every key
    const before = new Map((await entries(kv, ['r', 'big'])).map((e) => [JSON.stringify(e.key), e.versionstamp]))
    const d = await store.acquire(pool, estimate, [])
    assert(d.kind === 'dispatch', 'not a dispatch')
    const after = await entries(kv, ['r', 'big'])
    const changed = after.filter((e) => before.get(JSON.stringify(e.key)) !== e.versionstamp).map((e) => e.key.at(-1))
    assert(changed.length === 1 && changed[0] === d.deploymentId, `changed keys: ${JSON.stringify(changed)} (chose ${d.deploymentId})`)
  })
})

Deno.test('Deno KV layout: a pool in the single key of earlier versions is carried over and that key removed', async () => {
  await withKv(async (kv) => {
    const pool = poolOf(3)
    const old = createPoolState(pool)
    const now = Date.now()
    for (let i = 0; i < 5; i++) decide(pool, old, estimate, [], now, Math.random) // 5 reservations in the old layout
    await kv.set(['r', 'big'], old)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    await store.acquire(pool, estimate, [])
    assert((await kv.get(['r', 'big'])).value === null, 'the old key is still there')
    const snap = (await store.snapshot(pool)) as Array<{ window: { requests: number } }>
    const requests = snap.reduce((n, s) => n + s.window.requests, 0)
    assert(requests === 6, `windows hold ${requests} requests, expected the old 5 + 1`)
  })
})

Deno.test('Deno KV layout: a quota group across two pools is one window (its own key, shared by both pools)', async () => {
  await withKv(async (kv) => {
    const pools = groupedPools(10)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    let sent = 0
    for (let i = 0; i < 20; i++) if ((await store.acquire(i % 2 ? pools.chat : pools.batch, estimate, [])).kind === 'dispatch') sent++
    assert(sent === 10, `sent ${sent} of 20 against one 10 RPM quota`)
    const groups = await entries(kv, ['r', '#groups'])
    assert(groups.length === 1 && String(groups[0].key.at(-1)) === '#shared:batch+chat', `group keys: ${JSON.stringify(groups.map((g) => g.key))}`)
  })
})

Deno.test("Deno KV layout: a quota group's day (tokensPerDay) is one ledger under a key of its own, read by every instance; the windows' key keeps its layout", async () => {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const handles = [await Deno.openKv(path), await Deno.openKv(path)]
  try {
    // 20 tokens a request (10 in, 10 out): the group's 40 a day are two requests, whichever pool sends them.
    const member = (id: string) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', tokensPerDay: 40, quotaGroup: 'day' })
    const { pools } = parseRouterConfig({ pools: { chat: { deployments: [member('chat-1')] }, batch: { deployments: [member('batch-1')] } } })
    const [one, two] = handles.map((kv: any) => new DenoKvStateStore(kv, 'r', 30_000))
    for (const [store, p] of [[one, pools.chat], [two, pools.batch]] as const) {
      const d = await store.acquire(p, estimate, [])
      assert(d.kind === 'dispatch', `acquire: ${d.kind}`)
      await store.report(p, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 10, outputTokens: 10 } })
    }
    for (const [store, p] of [[one, pools.batch], [two, pools.chat]] as const) {
      const d = await store.acquire(p, estimate, [])
      assert(d.kind === 'reject' && /40 tokens per day are used \(40\)/.test(d.reason), `the group's day spent, yet: ${JSON.stringify(d)}`)
    }
    const [days] = await entries(handles[0], ['r', '#groupDays'])
    const ledgers = days?.value as Record<string, { dayUsd: number }> | undefined
    assert(ledgers?.day?.dayUsd === 40, `the days key holds ${JSON.stringify(days?.value)}`)
    // The windows' key keeps the layout earlier versions read (a rolling deploy's older instances): windows only.
    const [groups] = await entries(handles[0], ['r', '#groups'])
    assert(Object.values(groups.value as object).every(Array.isArray), `the groups key holds ${JSON.stringify(groups.value)}`)
    // An instance that has not read the pool before (a restart) reads the spent day back.
    const fresh = new DenoKvStateStore(handles[1], 'r', 30_000)
    assert((await fresh.acquire(pools.chat, estimate, [])).kind === 'reject', 'a fresh instance saw the day unspent')
  } finally {
    for (const kv of handles) kv.close()
    await Deno.remove(path).catch(() => {})
  }
})
