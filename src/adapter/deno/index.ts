/**
 * Deno entry (`deno task start`, Deno Deploy): the same Hono app served with Deno.serve, configured from the
 * process environment, with routing state in Deno KV (shared by every instance of the app) and the local
 * estimate as the fail-open fallback. `ROUTER_STATE=memory`: one instance alone keeps its state in its own memory —
 * no KV round trips or local SQLite writes per attempt; only right where no other instance shares the pools. Pools
 * with `leases` decide within slices KV grants (state/leases.ts), so most requests make no KV round trip.
 */
import { createApp } from '../../app'
import type { RouterEnv } from '../../env'
import { DenoKvResponseCache } from '../../cache/deno-kv'
import { DenoKvStateStore, type KvLike } from '../../state/deno-kv'
import { FailOpenStateStore } from '../../state/fail-open'
import { LeaseStateStore } from '../../state/leases'
import { MemoryStateStore } from '../../state/memory'
import type { StateStore } from '../../state/types'
import { MemoryResponseCache } from '../../cache/memory'
import type { ResponseCache } from '../../cache/types'
import { recorderFor } from '../../stats/recorder'

/**
 * A shutdown's whole budget, under the 10 s grace that `docker stop` and most orchestrators give before SIGKILL:
 * requests in flight get all but FLUSH_MS of it, the waiting writes (reports, accounting) the rest.
 */
const SHUTDOWN_MS = 8000
const FLUSH_MS = 3000

declare const Deno: {
  env: { toObject(): Record<string, string> }
  openKv(path?: string): Promise<KvLike>
  serve(options: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): { shutdown(): Promise<void> }
  addSignalListener(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void
  exit(code: number): never
}

const env: RouterEnv = Deno.env.toObject()
const inMemory = env.ROUTER_STATE === 'memory'
if (env.ROUTER_STATE !== undefined && !inMemory && env.ROUTER_STATE !== 'kv') throw new Error(`ROUTER_STATE must be "kv" (default) or "memory", not ${JSON.stringify(env.ROUTER_STATE)}`)
const stateTimeoutMs = Number(env.ROUTER_STATE_TIMEOUT_MS ?? 500)
let store: StateStore
let responseCache: ResponseCache
if (inMemory) {
  store = new MemoryStateStore()
  responseCache = new MemoryResponseCache()
} else {
  const kv = await Deno.openKv(env.ROUTER_KV_PATH ? String(env.ROUTER_KV_PATH) : undefined)
  store = new FailOpenStateStore(new LeaseStateStore(new DenoKvStateStore(kv, 'bedrock-router', stateTimeoutMs)), new MemoryStateStore(), stateTimeoutMs)
  responseCache = new DenoKvResponseCache(kv)
}
const app = createApp({ stateStore: () => store, responseCache: () => responseCache })
/**
 * Deno has no per-request waitUntil: the process outlives the response, so work started after it (accounting
 * writes, state reports) simply runs on. Handing Hono a context also spares every request the exception its
 * `executionCtx` getter throws without one.
 */
const executionCtx = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}), passThroughOnException: () => {}, props: {} }

const server = Deno.serve(
  {
    port: Number(env.PORT ?? 8787),
    hostname: String(env.HOST ?? '127.0.0.1'),
    onListen: ({ hostname, port }) => console.log(`Bedrock edge router (Deno, state in ${inMemory ? 'this instance\'s memory' : 'Deno KV'}) listening on http://${hostname}:${port}`),
  },
  (req) => app.fetch(req, env, executionCtx),
)

/**
 * SIGTERM (a deploy, `docker stop`) or SIGINT (Ctrl-C): stop taking requests, let those in flight finish, then write
 * what waits to be written — attempt reports held to ride a later commit, the accounting batch of the last second —
 * instead of losing it with the process. Bounded: SHUTDOWN_MS in all, then exit.
 */
let stopping = false
async function shutdown(signal: string) {
  if (stopping) Deno.exit(1) // a second signal: stop now
  stopping = true
  const deadline = Date.now() + SHUTDOWN_MS
  const until = (ms: number, p: Promise<unknown>) => Promise.race([p.catch(() => {}), new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))])
  await until(deadline - FLUSH_MS - Date.now(), server.shutdown())
  // What requests still streaming report after this is not waited for: the deadline is the deadline.
  await until(deadline - Date.now(), Promise.all([store.flush?.(), recorderFor(store).flush()]))
  console.log(JSON.stringify({ msg: 'router stopped', signal }))
  Deno.exit(0)
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  try {
    Deno.addSignalListener(signal, () => void shutdown(signal))
  } catch {
    // Not every platform lets a program listen for every signal (Windows: SIGINT only; some hosts: none).
  }
}
