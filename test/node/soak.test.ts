/**
 * The soak, short (the long one is `npm run bench`, BENCHMARKS.md §7): every front door, streams included, against
 * random upstream faults (throttles, 5xx, resets, broken bodies, stalls, cuts, exceptions) at concurrency 16. Every
 * request ends in an answer or a clean error in its door's shape — none malformed, none hung — and afterwards the
 * pool has no breaker probe or queued reservation left over.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { leftInFlight, SOAK_FAULTS, soakLoad, soakPool } from '../../bench/lib/soak'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const ADMIN = 'soak-admin'
let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => ({ pools: { soak: soakPool(e) } }), { ROUTER_ADMIN_KEY: ADMIN, ROUTER_LOG_SAMPLE: '0' })
  await h.control('/__sim/reset', { seed: 17 })
  await h.control('/__sim/rules', SOAK_FAULTS)
})
afterAll(() => h?.close())

it('900 requests over every door with random faults: each an answer or a clean error, nothing left in flight', async () => {
  const t = await soakLoad({ url: h.router.url, pool: 'soak', key: CLIENT_KEY, requests: 900, concurrency: 16 })
  const detail = JSON.stringify({ ...t, byDoor: undefined }, null, 1)
  expect(t.requests).toBe(900)
  expect(t.malformed, detail).toBe(0)
  expect(t.hung, detail).toBe(0)
  // The faults struck (else this proves nothing), and failover kept most answers whole.
  const rules = (await h.control('/__sim/rules')).rules as Array<{ hits: number }>
  expect(rules.reduce((n, r) => n + r.hits, 0), detail).toBeGreaterThan(50)
  expect(t.served / t.requests, detail).toBeGreaterThan(0.95)
  for (const [door, d] of Object.entries(t.byDoor)) expect(d.served, `${door}: ${JSON.stringify(d)}`).toBeGreaterThan(0)
  expect(await leftInFlight(h.router.url, ADMIN, 'soak')).toEqual({ probes: 0, queued: 0 })
}, 120_000)
