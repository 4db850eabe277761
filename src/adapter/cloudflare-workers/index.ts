/**
 * Cloudflare Workers entry: the Hono app plus the Durable Object class that keeps routing state.
 * With the ROUTER_STATE binding (wrangler.toml), windows and breakers are global, shared by every isolate;
 * without it, each isolate keeps its own. Pools with `leases` decide within slices the objects grant (state/leases.ts).
 */
import { createApp } from '../../app'
import type { RouterEnv } from '../../env'
import type { RouterStateObject } from '../../state/durable-object'
import { DurableObjectStateStore } from '../../state/durable-object-store'
import { FailOpenStateStore } from '../../state/fail-open'
import { LeaseStateStore } from '../../state/leases'
import { MemoryStateStore } from '../../state/memory'
import type { StateStore } from '../../state/types'
import { WorkersResponseCache } from '../../cache/workers-cache'

export { RouterStateObject } from '../../state/durable-object'

/** How long a request waits for its Durable Object before routing on the local estimate. */
const STATE_TIMEOUT_MS = 250

const local = new MemoryStateStore()
let shared: { namespace: unknown; store: StateStore } | undefined

function stateStore(env: RouterEnv): StateStore {
  const namespace = env.ROUTER_STATE as DurableObjectNamespace<RouterStateObject> | undefined
  if (!namespace) return local
  if (shared?.namespace !== namespace) {
    const timeout = Number(env.ROUTER_STATE_TIMEOUT_MS ?? STATE_TIMEOUT_MS)
    shared = { namespace, store: new FailOpenStateStore(new LeaseStateStore(new DurableObjectStateStore(namespace)), local, timeout) }
  }
  return shared.store
}

/** The data center's Cache API for pools with a response cache (absent outside Workers: memory then). */
const responseCache = typeof caches !== 'undefined' ? new WorkersResponseCache((caches as unknown as { default: Cache }).default) : undefined

export default createApp({ stateStore, responseCache: responseCache && (() => responseCache) })
