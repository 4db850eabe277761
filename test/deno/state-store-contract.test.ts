/** `deno test`: the StateStore contract (test/contract/state-store.ts) on Deno KV, the Deno entry's backend. */
import { DenoKvStateStore } from '../../src/state/deno-kv'
import { STATE_STORE_CONTRACT } from '../contract/state-store'

declare const Deno: any

for (const check of STATE_STORE_CONTRACT) {
  Deno.test(`StateStore contract: Deno KV: ${check.name}`, async () => {
    const path = await Deno.makeTempFile({ suffix: '.kv' })
    const kv = await Deno.openKv(path)
    try {
      await check.run(new DenoKvStateStore(kv, 'bedrock-router', 30_000))
    } finally {
      kv.close()
      await Deno.remove(path).catch(() => {})
    }
  })
}
