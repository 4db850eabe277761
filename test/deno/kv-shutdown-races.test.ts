/**
 * `deno test`: the Deno KV store and the accounting recorder at shutdown and under slow or failing KV — races a
 * review found, each failing on the code before its fix: a flush that returned while a write was under way, a
 * failed update that put an older config back on its reports, stale acquires that each paid a read and discarded
 * the committed copy, failovers written alone never retried.
 */
import { DenoKvStateStore, type KvLike } from '../../src/state/deno-kv'
import { parseRouterConfig } from '../../src/config/schema'
import { StatsRecorder } from '../../src/stats/recorder'
declare const Deno: any

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message)
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const cfg = (ids: string[]) => parseRouterConfig({ pools: { p: { strategy: 'rate-limit-aware', deployments: ids.map((id) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 100000 })) } } }).pools.p
const estimate = { inputTokens: 10, maxTokens: 10, stream: false }
type F = { commitDelay: number; commit: 'ok' | 'fail'; readDelay: number; after?: number; commits: number; reads: number }
async function withKv(use: (kv: KvLike, f: F, real: any) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const real = await Deno.openKv(path)
  const f: F = { commitDelay: 0, commit: 'ok', readDelay: 0, commits: 0, reads: 0 }
  const kv: KvLike = {
    get: (k) => real.get(k),
    getMany: async (k) => { f.reads++; if (f.readDelay) await sleep(f.readDelay); return real.getMany(k) },
    list: (s, o) => real.list(s, o),
    atomic() {
      const op = real.atomic()
      const w: any = {
        check: (...c: any[]) => (op.check(...c), w), set: (k: any, v: any, o: any) => (op.set(k, v, o), w), delete: (k: any) => (op.delete(k), w),
        commit: async () => {
          const n = f.commits++
          const mode = f.after !== undefined && n < f.after ? 'ok' : f.commit
          if (f.commitDelay) await sleep(f.commitDelay)
          if (mode === 'fail') throw new Error('KV unavailable')
          return op.commit()
        },
      }
      return w
    },
  }
  try { await use(kv, f, real) } finally { real.close(); await Deno.remove(path).catch(() => {}) }
}
const fail = (id: string) => ({ deploymentId: id, result: { class: 'unavailable' as const, status: 503 }, latencyMs: 5 })
const failures = async (store: DenoKvStateStore, pool: any, id: string) => ((await store.snapshot(pool)) as any[]).find((s: any) => s.id === id || s.deploymentId === id)?.consecutiveFailures

Deno.test('Deno KV flush() at shutdown waits for a write already under way', async () => {
  await withKv(async (kv, f) => {
    const pool = cfg(['a'])
    const store = new DenoKvStateStore(kv, 'r', 30_000, 5000)
    f.commitDelay = 300
    void store.report(pool, fail('a')).catch(() => {})
    await sleep(80) // the report's own flush fired: its commit is in flight
    await store.flush()
    f.commitDelay = 0
    assert((await failures(store, pool, 'a')) === 1, 'flush() returned before the report was written')
  })
})

Deno.test('Deno KV: a failed update does not put its older config back on reports that came with a newer one', async () => {
  await withKv(async (kv, f) => {
    const v1 = cfg(['a']), v2 = cfg(['a', 'b'])
    const store = new DenoKvStateStore(kv, 'r', 30_000, 5000)
    await store.acquire(v2, estimate, []) // state exists
    f.commitDelay = 300; f.commit = 'fail'
    void store.report(v1, fail('a')).catch(() => {}) // flush at 50 ms with v1, commit fails at ~350
    await sleep(320)
    void store.report(v2, fail('b')).catch(() => {}) // flush due at ~370 with v2
    await sleep(40) // v1 failed at ~350: waiting.pool = v1
    f.commit = 'ok'; f.commitDelay = 0
    await sleep(800)
    assert((await failures(store, v2, 'b')) === 1, 'the report for b (only in the newer config) was lost')
    assert((await failures(store, v2, 'a')) === 1, 'the report for a was lost')
  })
})

Deno.test('Deno KV: acquires whose callers gave up while queued make no KV call and keep the committed copy', async () => {
  await withKv(async (kv, f) => {
    const pool = cfg(['a'])
    const store = new DenoKvStateStore(kv, 'r', 50, 5000)
    await store.acquire(pool, estimate, []); await store.acquire(pool, estimate, [])
    const r0 = store.ops.reads
    f.commitDelay = 100; f.readDelay = 20
    const t0 = Date.now()
    const all = Array.from({ length: 30 }, () => store.acquire(pool, estimate, []).then(() => 'ok', (e) => String(e).slice(0, 40)))
    await sleep(10)
    const fresh = store.acquire(pool, estimate, [])
    const res = await Promise.all(all)
    await fresh.catch(() => {})
    assert(res.filter((r) => r === 'ok').length >= 1, 'none dispatched')
    assert(store.ops.reads - r0 === 0, `${store.ops.reads - r0} reads for acquires nobody waited for`)
    assert(Date.now() - t0 < 500, `the queue took ${Date.now() - t0} ms to drain`)
    f.commitDelay = 0; f.readDelay = 0
    const r1 = store.ops.reads
    await store.acquire(pool, estimate, [])
    assert(store.ops.reads - r1 === 0, 'the next acquire read: the copy was thrown away')
  })
})

Deno.test('accounting: failovers left unwritten (their rows went through) are sent by the next flush', async () => {
  await withKv(async (kv, f) => {
    const store = new DenoKvStateStore(kv, 'r', 30_000, 5000)
    const recorder = new StatsRecorder(store, 60_000)
    const at = Date.now()
    recorder.record({ at, pool: 'p', deployment: 'a', client: 'c', tags: [], outcome: 'success', abandoned: [], failFast: false, latencyMs: 10 } as any, [{ at, pool: 'p', from: 'b', class: 'throttled', servedBy: 'a' }], () => {})
    f.commit = 'fail'; f.after = 1
    const e = console.error; console.error = () => {}
    try { await recorder.flush() } finally { console.error = e }
    f.commit = 'ok'; f.after = undefined
    const c0 = f.commits
    await recorder.flush()
    const read = await store.readStats(at - 3_600_000, at + 3_600_000)
    assert(read.rows.reduce((n, r) => n + r.c.requests, 0) === 1, 'the row counted more or less than once')
    assert(read.failovers.length === 1, `${read.failovers.length} failovers written (commits by the second flush: ${f.commits - c0})`)
  })
})

Deno.test('accounting: the recorder\'s flush() at shutdown waits for a write already under way', async () => {
  let landed = false
  const store: any = { addStats: async () => { await sleep(300); landed = true } }
  const recorder = new StatsRecorder(store, 10)
  recorder.record({ at: Date.now(), pool: 'p', deployment: 'a', client: 'c', tags: [], outcome: 'success', abandoned: [], failFast: false, latencyMs: 10 } as any, [], (p) => void p)
  await sleep(50)
  await recorder.flush()
  assert(landed, 'flush() returned before the write under way landed')
})
