/** `deno test`: the response cache on Deno KV (the Deno entry's backend): kept, expired by KV, too-large answers skipped. */
import { DenoKvResponseCache } from '../../src/cache/deno-kv'

declare const Deno: any

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what)
}

Deno.test('response cache: Deno KV keeps answers for their TTL and skips what exceeds its 64 KiB values', async () => {
  const path = await Deno.makeTempFile({ suffix: '.kv' })
  const kv = await Deno.openKv(path)
  try {
    const cache = new DenoKvResponseCache(kv)
    const answer = { kind: 'converse' as const, body: '{"output":{"message":{}}}', deployment: 'a', storedAt: Date.now() }
    check((await cache.get('k')) === undefined, 'empty at first')
    await cache.put('k', answer, 60)
    check(JSON.stringify(await cache.get('k')) === JSON.stringify(answer), 'kept')
    await cache.put('big', { ...answer, body: 'x'.repeat(cache.maxEntryBytes + 1) }, 60)
    check((await cache.get('big')) === undefined, 'too large: not kept')
    const stream = { kind: 'stream' as const, frames: 'AAAA', deployment: 'a', storedAt: Date.now() }
    await cache.put('s', stream, 60)
    check(JSON.stringify(await cache.get('s')) === JSON.stringify(stream), 'a stream kept')
  } finally {
    kv.close()
    await Deno.remove(path).catch(() => {})
  }
})
