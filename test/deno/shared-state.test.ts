/**
 * `deno test`: the Deno entry's state backend. Several app instances, each with its own Deno KV handle on one
 * database (what separate Deno Deploy instances share), route a concurrent burst to simulated deployments with
 * small RPM quotas. What is dispatched upstream never exceeds the quota, and every request that fits is served.
 */
import { createApp } from '../../src/app'
import { createSimulator } from '../../simulator/handler'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { DenoKvStateStore } from '../../src/state/deno-kv'
import { MemoryStateStore } from '../../src/state/memory'
import type { StateStore } from '../../src/state/types'

declare const Deno: any

function assertEquals(actual: unknown, expected: unknown, what: string) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
}

const MODEL = 'us.amazon.nova-lite-v1:0'
const KEY = 'deno-test-key'

async function withSimulator(run: (endpoints: Record<string, string>, stats: () => Promise<{ accepted: number; rejected: number }>) => Promise<void>) {
  const sim = createSimulator({})
  const servers: any[] = []
  const endpoints: Record<string, string> = {}
  for (const region of ['us-east-1', 'us-west-2']) {
    const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, (req: Request) => sim.fetch(req, region))
    servers.push(server)
    endpoints[region] = `http://127.0.0.1:${server.addr.port}`
    sim.setQuota({ region, modelId: MODEL, rpm: 10 })
  }
  try {
    await run(endpoints, async () => {
      let accepted = 0
      let rejected = 0
      for (const region of Object.values(sim.stats()) as any[]) for (const m of Object.values(region) as any[]) {
        accepted += m.accepted
        rejected += m.rejected
      }
      return { accepted, rejected }
    })
  } finally {
    sim.close()
    for (const s of servers) await s.shutdown()
  }
}

async function burst(endpoints: Record<string, string>, stores: StateStore[], n: number) {
  // The router logs one line per request; keep the test output readable.
  const log = console.log
  console.log = () => {}
  try {
    return await burstQuietly(endpoints, stores, n)
  } finally {
    console.log = log
  }
}

async function burstQuietly(endpoints: Record<string, string>, stores: StateStore[], n: number) {
  const env = {
    ROUTER_API_KEYS: KEY,
    ROUTER_STATS_FLUSH_MS: '50', // accounting lands before the test closes its databases
    AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
    ROUTER_CONFIG: JSON.stringify({
      pools: {
        p: {
          strategy: 'rate-limit-aware',
          deployments: [
            { id: 'use1', modelId: MODEL, region: 'us-east-1', rpm: 10, endpoint: endpoints['us-east-1'] },
            { id: 'usw2', modelId: MODEL, region: 'us-west-2', rpm: 10, endpoint: endpoints['us-west-2'] },
          ],
        },
      },
    }),
  }
  const apps = stores.map((store) => createApp({ stateStore: () => store }))
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      apps[i % apps.length].fetch(
        new Request('http://router/model/p/converse', {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'count me' }] }], inferenceConfig: { maxTokens: 50 } }),
        }),
        env,
      ),
    ),
  )
  const statuses = await Promise.all(responses.map(async (r: Response) => (await r.arrayBuffer(), r.status)))
  return { ok: statuses.filter((s) => s === 200).length, throttled: statuses.filter((s) => s === 429).length }
}

Deno.test('Deno KV: four instances, one database, 60 concurrent requests against 2 × 10 RPM', async () => {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const kvs = await Promise.all([0, 1, 2, 3].map(() => Deno.openKv(path)))
  try {
    await withSimulator(async (endpoints, stats) => {
      const result = await burst(endpoints, kvs.map((kv) => new DenoKvStateStore(kv, 'bedrock-router', 30_000)), 60)
      const upstream = await stats()
      assertEquals(upstream.rejected, 0, 'upstream throttles (requests dispatched over quota)')
      assertEquals(upstream.accepted, 20, 'requests dispatched upstream')
      assertEquals(result, { ok: 20, throttled: 40 }, 'client answers')
    })
  } finally {
    await new Promise((resolve) => setTimeout(resolve, 300)) // let background reports finish
    for (const kv of kvs) kv.close()
    await Deno.remove(path)
  }
})

Deno.test('contrast: per-instance memory over-dispatches the same burst', async () => {
  await withSimulator(async (endpoints, stats) => {
    await burst(endpoints, [0, 1, 2, 3].map(() => new MemoryStateStore()), 60)
    const upstream = await stats()
    if (!(upstream.rejected > 0)) throw new Error(`expected upstream throttles without shared state, got ${JSON.stringify(upstream)}`)
  })
})

/** Runs the Deno entry (src/adapter/deno/index.ts) as `deno task start` does, with `env`, until `use` is done. */
async function withEntry(env: Record<string, string>, use: (url: string) => Promise<void>) {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const child = new Deno.Command(Deno.execPath(), {
    args: ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write', 'src/adapter/deno/index.ts'],
    env: { PORT: String(port), ROUTER_API_KEYS: KEY, AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY, ...env },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn()
  try {
    let res: Response | undefined
    for (let i = 0; i < 100 && !res; i++) {
      res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined)
      if (!res) await new Promise((r) => setTimeout(r, 100))
    }
    assertEquals(res?.status, 200, '/health status')
    await res!.arrayBuffer()
    await use(`http://127.0.0.1:${port}`)
  } finally {
    child.kill('SIGTERM')
    await child.status
    await child.stdout.cancel()
    await child.stderr.cancel()
  }
}

async function converseThrough(url: string) {
  const answer = await fetch(`${url}/model/${encodeURIComponent(MODEL)}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
  })
  assertEquals(answer.status, 200, 'converse status')
  assertEquals(answer.headers.get('x-router-deployment'), 'usw2', 'served by')
  const json = (await answer.json()) as any
  if (!String(json.output.message.content[0].text).startsWith('Hello from us-west-2')) throw new Error('unexpected answer')
}

const onePool = (endpoints: Record<string, string>) => JSON.stringify({ pools: { p: { deployments: [{ id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: endpoints['us-west-2'] }] } } })

Deno.test('deno task start: the Deno entry serves the router with Deno KV state', async () => {
  await withSimulator(async (endpoints) => {
    const kvPath = await Deno.makeTempFile({ suffix: '.kv' })
    try {
      await withEntry({ ROUTER_KV_PATH: kvPath, ROUTER_CONFIG: onePool(endpoints) }, converseThrough)
      if ((await Deno.stat(kvPath)).size === 0) throw new Error('the KV database was not written')
    } finally {
      await Deno.remove(kvPath)
    }
  })
})

Deno.test('ROUTER_STATE=memory: a single instance routes with its state in memory and opens no KV database', async () => {
  await withSimulator(async (endpoints) => {
    const dir = await Deno.makeTempDir()
    const kvPath = `${dir}/never.kv`
    try {
      await withEntry({ ROUTER_STATE: 'memory', ROUTER_KV_PATH: kvPath, ROUTER_CONFIG: onePool(endpoints) }, converseThrough)
      const made = await Deno.stat(kvPath).then(() => true, () => false)
      assertEquals(made, false, 'a KV database was created')
    } finally {
      await Deno.remove(dir, { recursive: true })
    }
  })
})

Deno.test('ROUTER_STATE with an unknown value: the entry refuses to start and says why', async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write', 'src/adapter/deno/index.ts'],
    env: { PORT: '0', ROUTER_STATE: 'redis' },
    stdout: 'piped',
    stderr: 'piped',
  }).output()
  assertEquals(out.success, false, 'started anyway')
  const text = new TextDecoder().decode(out.stderr)
  if (!text.includes('ROUTER_STATE must be "kv" (default) or "memory"')) throw new Error(`unclear refusal: ${text.slice(0, 300)}`)
})

Deno.test('a client that goes away releases its reservation (request.signal)', async () => {
  await withSimulator(async (endpoints) => {
    const env = {
      ROUTER_API_KEYS: KEY,
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
      ROUTER_CONFIG: JSON.stringify({ pools: { p: { strategy: 'rate-limit-aware', deployments: [{ id: 'usw2', modelId: MODEL, region: 'us-west-2', rpm: 1, endpoint: endpoints['us-west-2'] }] } } }),
    }
    const app = createApp({ stateStore: (() => { const s = new MemoryStateStore(); return () => s })() })
    const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, (req: Request) => app.fetch(req, env))
    const url = `http://127.0.0.1:${server.addr.port}/model/p/converse`
    const init = (signal?: AbortSignal) => ({
      method: 'POST',
      signal,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] }),
    })
    const log = console.log
    console.log = () => {}
    try {
      // A stalled upstream; the client gives up after 300 ms.
      const stall = (await (await fetch(`${endpoints['us-west-2']}/__sim/rules`, { method: 'POST', body: JSON.stringify({ fault: 'stall' }) })).json()) as { id: string }
      const abort = new AbortController()
      const gone = fetch(url, init(abort.signal)).catch((e) => e)
      await new Promise((r) => setTimeout(r, 300))
      abort.abort()
      await gone
      // The router aborted its upstream request: the simulator saw its caller leave the stalled request.
      let aborted = 0
      for (let i = 0; i < 40 && aborted === 0; i++) {
        const stats = (await (await fetch(`${endpoints['us-west-2']}/__sim/stats`)).json()) as Record<string, Record<string, { errors: Record<string, number> }>>
        aborted = stats['us-west-2']?.[MODEL]?.errors.RequestAborted ?? 0
        if (aborted === 0) await new Promise((r) => setTimeout(r, 50))
      }
      assertEquals(aborted, 1, 'the upstream request was aborted when the client left')
      await fetch(`${endpoints['us-west-2']}/__sim/rules/${stall.id}`, { method: 'DELETE' }).then((r) => r.body?.cancel())
      await new Promise((r) => setTimeout(r, 200))
      const next = await fetch(url, init())
      await next.body?.cancel()
      // rpm 1: a leaked reservation would make this a 429.
      assertEquals(next.status, 200, 'the next request after an abandoned one')
    } finally {
      console.log = log
      await server.shutdown()
    }
  })
})
