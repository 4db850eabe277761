/**
 * Deno entry (`deno task start`, Deno Deploy): the same Hono app served with Deno.serve, configured from the
 * process environment, with routing state in Deno KV (shared by every instance of the app) and the local
 * estimate as the fail-open fallback.
 */
import { createApp } from '../../app'
import type { RouterEnv } from '../../env'
import { DenoKvResponseCache } from '../../cache/deno-kv'
import { DenoKvStateStore, type KvLike } from '../../state/deno-kv'
import { FailOpenStateStore } from '../../state/fail-open'
import { MemoryStateStore } from '../../state/memory'

declare const Deno: {
  env: { toObject(): Record<string, string> }
  openKv(path?: string): Promise<KvLike>
  serve(options: { port: number; hostname: string; onListen?: (addr: { hostname: string; port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): unknown
}

const env: RouterEnv = Deno.env.toObject()
const kv = await Deno.openKv(env.ROUTER_KV_PATH ? String(env.ROUTER_KV_PATH) : undefined)
const stateTimeoutMs = Number(env.ROUTER_STATE_TIMEOUT_MS ?? 500)
const store = new FailOpenStateStore(new DenoKvStateStore(kv, 'bedrock-router', stateTimeoutMs), new MemoryStateStore(), stateTimeoutMs)
const responseCache = new DenoKvResponseCache(kv)
const app = createApp({ stateStore: () => store, responseCache: () => responseCache })

Deno.serve(
  {
    port: Number(env.PORT ?? 8787),
    hostname: String(env.HOST ?? '127.0.0.1'),
    onListen: ({ hostname, port }) => console.log(`Bedrock edge router (Deno, state in Deno KV) listening on http://${hostname}:${port}`),
  },
  (req) => app.fetch(req, env),
)
