/**
 * What-if variant of the Workers entry (bench only, not shipped): identical to src/adapter/cloudflare-workers,
 * except that the Durable Object keeps its state in memory without ever writing it to SQLite. It measures what the
 * write-through in src/state/durable-object.ts (`flush`: batched, at once after failures) still costs.
 */
import { createApp } from '../../src/app'
import type { RouterEnv } from '../../src/env'
import { RouterStateObject } from '../../src/state/durable-object'
import { DurableObjectStateStore } from '../../src/state/durable-object-store'
import { FailOpenStateStore } from '../../src/state/fail-open'
import { MemoryStateStore } from '../../src/state/memory'
import type { StateStore } from '../../src/state/types'

// Replaces the write-through in this bundle only; state stays in the object's memory.
;(RouterStateObject.prototype as unknown as { flush: () => void }).flush = () => {}
export { RouterStateObject }

const local = new MemoryStateStore()
let shared: StateStore | undefined

export default createApp({
  stateStore(env: RouterEnv) {
    const namespace = env.ROUTER_STATE as DurableObjectNamespace<RouterStateObject> | undefined
    if (!namespace) return local
    shared ??= new FailOpenStateStore(new DurableObjectStateStore(namespace), local, 250)
    return shared
  },
})
