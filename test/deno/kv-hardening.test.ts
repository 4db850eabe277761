/**
 * `deno test`: the Deno KV store when KV misbehaves, and the Deno entry's shutdown. A KV call that never settles no
 * longer holds its pool's queue; reports an update failed to write are written later without any further request;
 * reports past the queue's bound are counted and logged, not lost silently; SIGTERM writes what was waiting.
 */
import { DenoKvStateStore, REPORT_MAX_AGE_MS, type KvLike } from '../../src/state/deno-kv'
import { parseRouterConfig } from '../../src/config/schema'
import { StatsRecorder } from '../../src/stats/recorder'
import { createSimulator } from '../../simulator/handler'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'

declare const Deno: any

function assert(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message)
}

const pool = parseRouterConfig({
  pools: { p: { strategy: 'rate-limit-aware', deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm: 1000 }] } },
}).pools.p
const estimate = { inputTokens: 10, maxTokens: 10, stream: false }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A real KV handle on a new file, whose commits can be made to hang or fail on command (`after`: only once that many commits went through). */
async function withFaultyKv(use: (kv: KvLike, faults: { commit: 'ok' | 'hang' | 'fail'; after?: number }, path: string) => Promise<void>) {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const real = await Deno.openKv(path)
  const faults: { commit: 'ok' | 'hang' | 'fail'; after?: number } = { commit: 'ok' }
  let commits = 0
  const kv: KvLike = {
    get: (key) => real.get(key),
    getMany: (keys) => real.getMany(keys),
    list: (selector, options) => real.list(selector, options),
    atomic() {
      const op = real.atomic()
      const wrapped: ReturnType<KvLike['atomic']> = {
        check: (...checks) => (op.check(...checks), wrapped),
        set: (key, value, options) => (op.set(key, value, options), wrapped),
        delete: (key) => (op.delete(key), wrapped),
        commit: () => {
          const fault = faults.after !== undefined && commits < faults.after ? 'ok' : faults.commit
          commits++
          return fault === 'hang' ? new Promise(() => {}) : fault === 'fail' ? Promise.reject(new Error('KV unavailable')) : op.commit()
        },
      }
      return wrapped
    },
  }
  try {
    await use(kv, faults, path)
  } finally {
    real.close()
    await Deno.remove(path).catch(() => {})
  }
}

const windowRequests = async (store: DenoKvStateStore) => ((await store.snapshot(pool)) as Array<{ window: { requests: number } }>)[0].window.requests
const failuresOf = async (store: DenoKvStateStore) => ((await store.snapshot(pool)) as Array<{ consecutiveFailures: number }>)[0].consecutiveFailures

Deno.test('Deno KV: a commit that never settles fails its update after the call timeout, and the pool’s next update goes through', async () => {
  await withFaultyKv(async (kv, faults) => {
    const store = new DenoKvStateStore(kv, 'r', 30_000, 100)
    faults.commit = 'hang'
    const started = Date.now()
    const stuck = await store.acquire(pool, estimate, []).then(() => 'settled', (e) => String(e))
    assert(/did not settle within 100 ms/.test(stuck), `the stuck acquire ended with: ${stuck}`)
    assert(Date.now() - started < 2000, `it took ${Date.now() - started} ms`)
    faults.commit = 'ok'
    const next = await store.acquire(pool, estimate, [])
    assert(next.kind === 'dispatch', `the next acquire: ${next.kind}`)
    assert(store.ops.timeouts === 1, `${store.ops.timeouts} timeouts counted`)
  })
})

Deno.test('Deno KV: a report carried by an acquire whose commit failed is written later with no further request', async () => {
  await withFaultyKv(async (kv, faults) => {
    const store = new DenoKvStateStore(kv, 'r', 30_000, 1000)
    const first = await store.acquire(pool, estimate, [])
    assert(first.kind === 'dispatch', 'first decision')
    assert((await windowRequests(store)) === 1, 'the reservation is in the window')
    faults.commit = 'fail'
    // The next attempt carries the first one's outcome (unavailable): its commit fails, so the outcome waits.
    const outcome = { deploymentId: first.deploymentId, reservation: first.reservation, result: { class: 'unavailable' as const, status: 503, errorType: 'ServiceUnavailableException' }, latencyMs: 20 }
    const failed = await store.acquire(pool, estimate, [first.deploymentId], outcome).then(() => 'settled', (e) => String(e))
    assert(/KV unavailable/.test(failed), `the failing acquire ended with: ${failed}`)
    faults.commit = 'ok'
    // No request follows: the store writes the waiting report on its own (a retry after FLUSH_RETRY_MS).
    assert((await failuresOf(store)) === 0, 'not written yet')
    const deadline = Date.now() + 3000
    while (Date.now() < deadline && (await failuresOf(store)) === 0) await sleep(50)
    assert((await failuresOf(store)) === 1, `the failure never reached the deployment's state (${store.ops.commits} commits)`)
  })
})

Deno.test('Deno KV: reports past the queue’s bound while KV fails are counted and logged', async () => {
  await withFaultyKv(async (kv, faults) => {
    const store = new DenoKvStateStore(kv, 'r', 30_000, 1000)
    const d = await store.acquire(pool, estimate, [])
    assert(d.kind === 'dispatch', 'decision')
    faults.commit = 'fail'
    const lines: string[] = []
    const error = console.error
    console.error = (line: string) => void lines.push(String(line))
    try {
      for (let i = 0; i < 1005; i++) void store.report(pool, { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 1, outputTokens: 1 }, latencyMs: 5 }).catch(() => {})
    } finally {
      console.error = error
    }
    assert(store.ops.droppedReports === 5, `${store.ops.droppedReports} dropped`)
    assert(store.counters().kvReportsDropped === 5, 'counted in counters() for /metrics')
    assert(lines.length === 1 && /attempt reports dropped/.test(lines[0]) && /"dropped":1\b/.test(lines[0]), `log lines: ${lines.join('\n')}`)
    faults.commit = 'ok'
    await store.flush()
    assert((await windowRequests(store)) === 1, 'the kept reports were written by flush()')
  })
})

Deno.test('Deno KV: a report not written within REPORT_MAX_AGE_MS is dropped, not applied as news, and its retries end', async () => {
  await withFaultyKv(async (kv, faults) => {
    const store = new DenoKvStateStore(kv, 'r', 30_000, 1000)
    const d = await store.acquire(pool, estimate, [])
    assert(d.kind === 'dispatch', 'decision')
    faults.commit = 'fail'
    const outcome = { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'unavailable' as const, status: 503, errorType: 'ServiceUnavailableException' }, latencyMs: 20 }
    await store.report(pool, outcome).catch(() => {})
    const realNow = Date.now
    const error = console.error
    console.error = () => {}
    try {
      // A minute and more later (the clock moved, not the test): KV answers again.
      Date.now = () => realNow() + REPORT_MAX_AGE_MS + 1000
      faults.commit = 'ok'
      await store.flush()
      assert(store.ops.droppedReports === 1, `${store.ops.droppedReports} dropped`)
      assert((await failuresOf(store)) === 0, 'the old failure was applied as if it had just happened')
      const commits = store.ops.commits
      faults.commit = 'fail'
      await sleep(700)
      assert(store.ops.commits === commits, `retries went on after the report was dropped: ${store.ops.commits - commits} more commits`)
    } finally {
      Date.now = realNow
      console.error = error
    }
  })
})

/** `n` accounting events of distinct clients (one row each), at one moment. */
const events = (n: number, at: number) =>
  Array.from({ length: n }, (_, i) => ({ at, pool: 'p', deployment: 'a', client: `client-${i}`, tags: [], outcome: 'success' as const, abandoned: [], failFast: false, latencyMs: 10 }))

for (const fault of ['fail', 'hang'] as const) {
  Deno.test(`Deno KV accounting: a batch whose third commit ${fault === 'fail' ? 'fails' : 'never settles'} is retried from what was not written — no row counted twice`, async () => {
    await withFaultyKv(async (kv, faults) => {
      const store = new DenoKvStateStore(kv, 'r', 30_000, 100)
      const recorder = new StatsRecorder(store, 60_000)
      const at = Date.now()
      for (const e of events(25, at)) recorder.record(e, [], () => {})
      faults.commit = fault
      faults.after = 2 // chunks of 10 rows: the first two commit, the third (5 rows) does not
      const error = console.error
      console.error = () => {}
      try {
        await recorder.flush()
      } finally {
        console.error = error
      }
      faults.commit = 'ok'
      await recorder.flush()
      const read = await store.readStats(at - 3_600_000, at + 3_600_000)
      const requests = read.rows.reduce((n, r) => n + r.c.requests, 0)
      // A failed commit wrote nothing: its rows go again (25 in all). A commit that never settled may have landed:
      // its rows are not sent again (20 written, the 5 dropped) rather than risk counting them twice.
      assert(requests === (fault === 'fail' ? 25 : 20), `${requests} requests counted`)
      assert(read.rows.every((r) => r.c.requests === 1), 'a row counted twice')
    })
  })
}

Deno.test('Deno entry: SIGTERM writes the accounting and reports that were waiting, then exits 0', async () => {
  const sim = createSimulator({})
  const upstream = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, (req: Request) => sim.fetch(req, 'us-east-1'))
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const port = 20000 + Math.floor(Math.random() * 20000)
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write', 'src/adapter/deno/index.ts'],
    env: {
      PORT: String(port),
      ROUTER_KV_PATH: path,
      ROUTER_API_KEYS: 'deno-shutdown-key',
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
      // Accounting is batched for 60 s: only the shutdown can have written it when the test reads it.
      ROUTER_STATS_FLUSH_MS: '60000',
      ROUTER_CONFIG: JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', endpoint: `http://127.0.0.1:${upstream.addr.port}` }] } } }),
    },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn()
  const output = child.output()
  try {
    let res: Response | undefined
    for (let i = 0; i < 200 && !res; i++) {
      res = await fetch(`http://127.0.0.1:${port}/model/p/converse`, {
        method: 'POST',
        headers: { authorization: 'Bearer deno-shutdown-key', 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
      }).catch(() => undefined)
      if (!res) await sleep(50)
    }
    const answer = await res?.text()
    assert(res?.status === 200, `the request: ${res?.status} ${answer}`)
    const signalled = Date.now()
    child.kill('SIGTERM')
    const { code, stdout } = await output
    const out = new TextDecoder().decode(stdout)
    assert(code === 0, `exit code ${code}\n${out}`)
    assert(/"msg":"router stopped","signal":"SIGTERM"/.test(out), `no stop line:\n${out}`)
    assert(Date.now() - signalled < 10_000, 'shutdown took too long')
    const kv = await Deno.openKv(path)
    try {
      const store = new DenoKvStateStore(kv, 'bedrock-router')
      const stats = await store.readStats(Date.now() - 3_600_000, Date.now() + 1)
      const requests = stats.rows.filter((r) => r.outcome !== 'abandoned').reduce((n, r) => n + r.c.requests, 0)
      assert(requests === 1, `accounting rows after shutdown hold ${requests} requests`)
    } finally {
      kv.close()
    }
  } finally {
    try {
      child.kill('SIGKILL')
    } catch {
      // exited already
    }
    await output.catch(() => {})
    sim.close()
    await upstream.shutdown()
    await Deno.remove(path).catch(() => {})
  }
})
