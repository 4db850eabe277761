/**
 * The StateStore contract (test/contract/state-store.ts) on the backends that run in workerd: memory, Durable Objects,
 * and the fail-open wrapper around a Durable Object (the production default on Workers).
 */
import { env } from 'cloudflare:test'
import { describe, it } from 'vitest'
import type { RouterStateObject } from '../../src/state/durable-object'
import { DurableObjectStateStore } from '../../src/state/durable-object-store'
import { FailOpenStateStore } from '../../src/state/fail-open'
import { MemoryStateStore } from '../../src/state/memory'
import type { StateStore } from '../../src/state/types'
import { STATE_STORE_CONTRACT } from '../contract/state-store'

const namespace = () => (env as unknown as { ROUTER_STATE: DurableObjectNamespace<RouterStateObject> }).ROUTER_STATE

const backends: Array<[string, () => StateStore]> = [
  ['memory', () => new MemoryStateStore()],
  ['Durable Object', () => new DurableObjectStateStore(namespace())],
  ['fail-open over a Durable Object', () => new FailOpenStateStore(new DurableObjectStateStore(namespace()), new MemoryStateStore(), 250)],
]

for (const [name, make] of backends) {
  describe(`StateStore contract: ${name}`, () => {
    for (const check of STATE_STORE_CONTRACT) it(check.name, () => check.run(make()))
  })
}
