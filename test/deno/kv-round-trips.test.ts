/**
 * `deno test`: what a decision costs in Deno KV round trips. One instance decides on what it last committed (checked
 * by versionstamp), so a decision is one commit and no read; reports ride the next decision. Several instances on
 * one database still never overspend a window: a copy another instance has written past fails its check, and the
 * decision reads and tries again.
 */
import { DenoKvStateStore, REPORT_DELAY_MS } from '../../src/state/deno-kv'
import { parseRouterConfig } from '../../src/config/schema'
import { groupedPools } from './grouped-pools'

declare const Deno: any

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message)
}

const poolWith = (rpm: number) =>
  parseRouterConfig({
    pools: { p: { strategy: 'rate-limit-aware', deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm }, { id: 'b', modelId: 'amazon.nova-micro-v1:0', region: 'us-west-2', rpm }] } },
  }).pools.p
const estimate = { inputTokens: 10, maxTokens: 10, stream: false }
const usage = { inputTokens: 10, outputTokens: 5 }

/** `n` handles on one new database file (as `n` instances would hold), closed and the file removed after `use`. */
async function withKvs(n: number, use: (kvs: any[]) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const kvs: any[] = []
  try {
    for (let i = 0; i < n; i++) kvs.push(await Deno.openKv(path))
    await use(kvs)
  } finally {
    for (const kv of kvs) kv.close()
    await Deno.remove(path).catch(() => {})
  }
}

Deno.test('Deno KV round trips: one instance, 200 decisions and their reports: one commit per decision, no reads after the first', async () => {
  await withKvs(1, async ([kv]) => {
    const pool = poolWith(1_000_000)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    let last: Promise<void> = Promise.resolve()
    const started = Date.now()
    for (let i = 0; i < 200; i++) {
      const d = await store.acquire(pool, estimate, [])
      assert(d.kind === 'dispatch', `decision ${i}: ${d.kind}`)
      // As the engine does: the report is not waited for.
      last = store.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage, latencyMs: 100 })
    }
    const elapsed = Date.now() - started
    await last
    assert(store.ops.reads <= 1, `${store.ops.reads} reads`)
    // 200 decisions, the reports riding them; a report left waiting is written on its own once per delay.
    const flushes = Math.ceil(elapsed / REPORT_DELAY_MS) + 1
    assert(store.ops.commits <= 200 + flushes, `${store.ops.commits} commits for 200 decisions in ${elapsed} ms`)
    const snap = (await store.snapshot(pool)) as Array<{ window: { requests: number; tokens: number } }>
    const requests = snap.reduce((n, s) => n + s.window.requests, 0)
    assert(requests === 200, `windows hold ${requests} requests`)
  })
})

Deno.test('Deno KV round trips: two instances on one database, alternating, never overspend 2 × 5 RPM (copies lose their races and read)', async () => {
  await withKvs(2, async (kvs) => {
    const pool = poolWith(5)
    const stores = kvs.map((kv) => new DenoKvStateStore(kv, 'r', 30_000))
    let sent = 0
    for (let i = 0; i < 40; i++) if ((await stores[i % 2].acquire(pool, estimate, [])).kind === 'dispatch') sent++
    assert(sent === 10, `sent ${sent} of 40 against 2 × 5 RPM`)
    assert(stores.every((s) => s.ops.reads > 1), `reads ${stores.map((s) => s.ops.reads)}: a copy written past by the other instance must be read again`)
    // And at once concurrent: 20 more from both, nothing left to spend.
    const more = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 2].acquire(pool, estimate, [])))
    assert(more.every((d) => d.kind !== 'dispatch'), 'a full window dispatched')
  })
})

Deno.test(`Deno KV round trips: a report waits at most ${REPORT_DELAY_MS} ms for a decision to ride, then is written on its own (another instance sees it)`, async () => {
  await withKvs(2, async (kvs) => {
    const pool = poolWith(100)
    const [one, other] = kvs.map((kv) => new DenoKvStateStore(kv, 'r', 30_000))
    const d = await one.acquire(pool, estimate, [])
    assert(d.kind === 'dispatch', 'not a dispatch')
    const held = (await other.snapshot(pool)) as Array<{ window: { requests: number } }>
    assert(held.reduce((n, s) => n + s.window.requests, 0) === 1, 'the reservation is not in KV')
    // A throttle releases the reservation: written within the delay, with no decision to carry it.
    const started = Date.now()
    await one.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'throttled', status: 429, errorType: 'ThrottlingException' } })
    assert(Date.now() - started < REPORT_DELAY_MS + 1000, `the report took ${Date.now() - started} ms`)
    const after = (await other.snapshot(pool)) as Array<{ window: { requests: number } }>
    assert(after.reduce((n, s) => n + s.window.requests, 0) === 0, 'the throttle did not release the reservation')
  })
})

Deno.test('Deno KV round trips: two pools sharing a quota group on one instance: exact, and no commit wasted on a copy the other pool outdated', async () => {
  await withKvs(1, async ([kv]) => {
    const pools = groupedPools(10)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    let sent = 0
    for (let i = 0; i < 20; i++) if ((await store.acquire(i % 2 ? pools.chat : pools.batch, estimate, [])).kind === 'dispatch') sent++
    assert(sent === 10, `sent ${sent} of 20 against one 10 RPM quota`)
    // One commit per decision: a pool whose copy the other pool's commit outdated reads first, it does not try it.
    assert(store.ops.commits === 20, `${store.ops.commits} commits for 20 decisions`)
  })
})

Deno.test('Deno KV round trips: two pools sharing a quota group on one instance, 40 decisions at once: run one at a time (no race between them), one commit each', async () => {
  await withKvs(1, async ([kv]) => {
    const pools = groupedPools(30)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => store.acquire(i % 2 ? pools.chat : pools.batch, estimate, [])))
    const sent = decisions.filter((d) => d.kind === 'dispatch').length
    assert(sent === 30, `sent ${sent} of 40 against one 30 RPM quota`)
    assert(store.ops.commits === 40, `${store.ops.commits} commits for 40 decisions (the two pools' updates raced each other)`)
  })
})

Deno.test('Deno KV round trips: reports waiting for one flush are recorded under the newest config they came with', async () => {
  await withKvs(1, async ([kv]) => {
    const two = poolWith(100)
    const three = parseRouterConfig({
      pools: { p: { strategy: 'rate-limit-aware', deployments: [...two.deployments.map(({ id, modelId, region, rpm }) => ({ id, modelId, region, rpm })), { id: 'c', modelId: 'amazon.nova-micro-v1:0', region: 'eu-west-1', rpm: 100 }] } },
    }).pools.p
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    const onA = await store.acquire(two, estimate, ['b'])
    const onC = await store.acquire(three, estimate, ['a', 'b'])
    assert(onA.kind === 'dispatch' && onA.deploymentId === 'a' && onC.kind === 'dispatch' && onC.deploymentId === 'c', 'not the expected dispatches')
    // Both throttled: each releases its reservation, the second under the config that knows deployment c.
    const throttled = { class: 'throttled' as const, status: 429, errorType: 'ThrottlingException' }
    const first = store.report(two, { deploymentId: 'a', reservation: onA.reservation, result: throttled })
    const second = store.report(three, { deploymentId: 'c', reservation: onC.reservation, result: throttled })
    await Promise.all([first, second])
    const snap = (await store.snapshot(three)) as Array<{ id: string; window: { requests: number } }>
    const held = snap.reduce((n, s) => n + s.window.requests, 0)
    assert(held === 0, `windows still hold ${held} requests: ${JSON.stringify(snap.map((s) => [s.id, s.window.requests]))}`)
  })
})

Deno.test('Deno KV round trips: while every commit fails, the reports kept stay bounded (1,000 per pool), and they are written once KV answers again', async () => {
  await withKvs(1, async ([real]) => {
    let failing = true
    // The real database behind a switch that makes every commit throw (not a lost race: an outage).
    const kv = {
      get: (k: unknown[]) => real.get(k),
      getMany: (ks: unknown[][]) => real.getMany(ks),
      list: (s: unknown, o?: unknown) => real.list(s, o),
      atomic() {
        const op = real.atomic()
        const wrapped: any = {
          check: (...c: unknown[]) => (op.check(...c), wrapped),
          set: (k: unknown[], v: unknown, o?: unknown) => (op.set(k, v, o), wrapped),
          delete: (k: unknown[]) => (op.delete(k), wrapped),
          // A failing commit takes 30 ms to fail, so reports arrive while it is under way.
          commit: () => (failing ? new Promise((_, reject) => setTimeout(() => reject(new Error('KV unavailable')), 30)) : op.commit()),
        }
        return wrapped
      },
    }
    const pool = poolWith(1_000_000)
    const store = new DenoKvStateStore(kv, 'r', 30_000)
    failing = false
    const d = await store.acquire(pool, estimate, [])
    assert(d.kind === 'dispatch', 'not a dispatch')
    failing = true
    const reports: Promise<void>[] = []
    const burst = () => {
      for (let i = 0; i < 800; i++) reports.push(store.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage, latencyMs: 10 }).catch(() => {}))
    }
    for (let round = 0; round < 4; round++) {
      burst()
      await new Promise((r) => setTimeout(r, REPORT_DELAY_MS + 10)) // the flush has taken them and its commit is failing
      burst() // these wait beside it
      await Promise.all(reports.splice(0)) // the failed flush puts its reports back in front of them
    }
    const held = (store as any).pending.get(pool.name)?.length ?? 0
    assert(held <= 1000, `${held} reports held after four rounds of failed flushes`)
    failing = false
    await store.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage, latencyMs: 10 })
    assert(((store as any).pending.get(pool.name)?.length ?? 0) === 0, 'reports still pending after KV came back')
  })
})
