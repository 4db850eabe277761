/**
 * The StateStore contract (src/state/types.ts), as plain async checks that throw on failure, so every backend runs the
 * same ones under its own test runner: memory and Durable Objects under vitest in workerd
 * (test/worker/state-store-contract.test.ts), Deno KV under `deno test` (test/deno/state-store-contract.test.ts).
 * Each check builds its own pool (a fresh name), so backends that keep state between checks stay independent.
 */
import { parseRouterConfig } from '../../src/config/schema'
import type { PoolConfig } from '../../src/config/types'
import type { AttemptOutcome, Decision, DeploymentSnapshot, RequestEstimate } from '../../src/routing/types'
import type { StateStore } from '../../src/state/types'
import { aggregate, HOUR_MS, rowsOf, type RequestEvent } from '../../src/stats/rollup'

export interface ContractCheck {
  name: string
  run(store: StateStore): Promise<void>
}

let counter = 0
function freshPool(strategy: string, deployments: Array<{ id: string; rpm?: number }>): PoolConfig {
  const name = `contract-${Date.now().toString(36)}-${++counter}`
  const ids = deployments.map((d) => ({ ...d, id: `${name}-${d.id}` }))
  return parseRouterConfig({
    pools: { [name]: { strategy, deployments: ids.map((d, i) => ({ modelId: 'amazon.nova-micro-v1:0', region: i % 2 ? 'us-west-2' : 'us-east-1', ...d })) } },
  }).pools[name]
}

const estimate: RequestEstimate = { inputTokens: 10, maxTokens: 10, stream: false }

function check(condition: boolean, what: string, got?: unknown): void {
  if (!condition) throw new Error(`${what}${got === undefined ? '' : `: got ${JSON.stringify(got)}`}`)
}

function dispatched(d: Decision): Extract<Decision, { kind: 'dispatch' }> {
  check(d.kind === 'dispatch', 'expected a dispatch', d)
  return d as Extract<Decision, { kind: 'dispatch' }>
}

async function view(store: StateStore, pool: PoolConfig, id: string): Promise<DeploymentSnapshot> {
  const all = (await store.snapshot(pool)) as DeploymentSnapshot[]
  check(Array.isArray(all), 'snapshot is an array of deployments', all)
  const found = all.find((s) => s.id === id)
  check(found !== undefined, `snapshot lists ${id}`, all.map((s) => s.id))
  return found!
}

export const STATE_STORE_CONTRACT: ContractCheck[] = [
  {
    name: 'concurrent acquires never over-reserve a configured window; the rest are refused with a reason and Retry-After',
    async run(store) {
      const pool = freshPool('rate-limit-aware', [{ id: 'a', rpm: 3 }, { id: 'b', rpm: 2 }])
      const decisions = await Promise.all(Array.from({ length: 9 }, () => store.acquire(pool, estimate, [])))
      const sent = decisions.filter((d) => d.kind === 'dispatch')
      check(sent.length === 5, 'exactly the 5 requests that fit are dispatched', sent.length)
      for (const d of decisions.filter((x) => x.kind === 'reject')) {
        check(d.kind === 'reject' && d.status === 429 && d.retryAfterMs > 0 && /window full/.test(d.reason), 'a refusal is a 429 naming the full window', d)
      }
      const [a, b] = [await view(store, pool, pool.deployments[0].id), await view(store, pool, pool.deployments[1].id)]
      check(a.window.requests === 3 && b.window.requests === 2, 'the snapshot counts every reservation', [a.window, b.window])
    },
  },
  {
    name: 'acquire records the previous attempt\'s outcome in the same step, then never picks a tried deployment',
    async run(store) {
      const pool = freshPool('weighted', [{ id: 'a' }, { id: 'b' }])
      const first = dispatched(await store.acquire(pool, estimate, []))
      const previous: AttemptOutcome = {
        deploymentId: first.deploymentId,
        reservation: first.reservation,
        result: { class: 'misconfigured', status: 403, errorType: 'AccessDeniedException' },
      }
      const second = dispatched(await store.acquire(pool, estimate, [first.deploymentId], previous))
      check(second.deploymentId !== first.deploymentId, 'the failover goes elsewhere', second)
      const bad = await view(store, pool, first.deploymentId)
      check(bad.reason === 'misconfigured' && bad.misconfigured?.errorType === 'AccessDeniedException', 'the outcome was recorded', bad)
      const none = await store.acquire(pool, estimate, [first.deploymentId, second.deploymentId])
      check(none.kind === 'reject' && none.status === 503 && /already tried/.test(none.reason), 'every deployment tried: 503 saying so', none)
    },
  },
  {
    name: 'report settles a reservation: a throttle releases it (and paces the deployment), a success keeps its real usage',
    async run(store) {
      const pool = freshPool('rate-limit-aware', [{ id: 'a', rpm: 10 }])
      const id = pool.deployments[0].id
      const one = dispatched(await store.acquire(pool, estimate, []))
      const two = dispatched(await store.acquire(pool, estimate, []))
      await store.report(pool, { deploymentId: id, reservation: one.reservation, result: { class: 'throttled', status: 429 } })
      await store.report(pool, { deploymentId: id, reservation: two.reservation, result: { class: 'success', status: 200 }, usage: { inputTokens: 5, outputTokens: 1 } })
      // Backends may apply reports asynchronously (batched onto the next call): a read-only acquire-free wait.
      let snap = await view(store, pool, id)
      for (let i = 0; i < 50 && snap.window.requests !== 1; i++) {
        await new Promise((r) => setTimeout(r, 20))
        snap = await view(store, pool, id)
      }
      check(snap.window.requests === 1, 'the throttled attempt no longer counts', snap.window)
      check(snap.window.tokens === 6, 'the success settled to its real usage', snap.window)
      check(snap.pacing.rateRps !== null, 'the throttle paced the deployment', snap.pacing)
      check(snap.usable, 'a throttle never makes it unusable', snap)
    },
  },
  {
    name: 'soft signals never refuse: a deployment whose breaker ejected it still gets a request when nothing else is left',
    async run(store) {
      const pool = freshPool('weighted', [{ id: 'a' }, { id: 'b' }])
      const [a, b] = pool.deployments.map((d) => d.id)
      for (let i = 0; i < pool.breaker.consecutiveFailures; i++) {
        const d = dispatched(await store.acquire(pool, estimate, [b]))
        check(d.deploymentId === a, 'with b tried, a is chosen', d)
        await store.report(pool, { deploymentId: a, reservation: d.reservation, result: { class: 'unavailable', status: 503 } })
      }
      let snap = await view(store, pool, a)
      for (let i = 0; i < 50 && snap.breaker !== 'open'; i++) {
        await new Promise((r) => setTimeout(r, 20))
        snap = await view(store, pool, a)
      }
      check(snap.breaker === 'open' && snap.usable && !snap.preferred, 'ejected, soft', snap)
      const fresh = dispatched(await store.acquire(pool, estimate, []))
      check(fresh.deploymentId === b, 'a healthy deployment is preferred', fresh)
      const last = dispatched(await store.acquire(pool, estimate, [b]))
      check(last.deploymentId === a && /last resort/.test(last.reason), 'the ejected one is the last resort, not a refusal', last)
    },
  },
  {
    name: 'pools are independent',
    async run(store) {
      const p1 = freshPool('rate-limit-aware', [{ id: 'a', rpm: 1 }])
      const p2 = freshPool('rate-limit-aware', [{ id: 'a', rpm: 1 }])
      dispatched(await store.acquire(p1, estimate, []))
      dispatched(await store.acquire(p2, estimate, []))
      check((await store.acquire(p1, estimate, [])).kind === 'reject', 'p1 is full')
    },
  },
  {
    name: 'accounting rows from concurrent batches add up exactly, and reads select the hours asked for',
    async run(store) {
      const pool = `stats-${Date.now().toString(36)}-${++counter}`
      const now = Date.now()
      const event = (at: number, client: string): RequestEvent => ({
        at, pool, deployment: 'a', model: 'm', client, tags: ['t=1'], outcome: 'success', abandoned: [{ deployment: 'b', model: 'm', class: 'throttled' }],
        failFast: false, latencyMs: 50, usage: { inputTokens: 10, outputTokens: 5 }, costUsd: 0.25,
      })
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.addStats({ rows: rowsOf(event(now, `c${i % 2}`)), failovers: [{ at: now, pool, from: 'b', class: 'throttled', servedBy: 'a' }] })))
      await store.addStats({ rows: rowsOf(event(now - 3 * HOUR_MS, 'c0')), failovers: [] })
      const read = await store.readStats(now - HOUR_MS / 2, now + 1)
      const mine = read.rows.filter((r) => r.pool === pool)
      const [total] = aggregate(mine, { from: now - HOUR_MS / 2, to: now + 1, by: [], bucket: 'total' })
      check(total?.requests === 10 && total.failovers === 10 && total.throttles.upstream === 10, '10 requests, 10 failovers, none from 3 hours ago', total)
      check(Math.abs(total.costUsd - 2.5) < 1e-9 && total.tokens.input === 100, 'cost and tokens add up', total)
      const byClient = aggregate(mine, { from: now - HOUR_MS / 2, to: now + 1, by: ['client'], bucket: 'total' })
      check(byClient.length === 2 && byClient.every((g) => g.requests === 5), 'five per client', byClient)
      check(read.failovers.filter((f) => f.pool === pool).length === 10, 'the recent failovers are kept', read.failovers.length)
      const older = await store.readStats(now - 4 * HOUR_MS, now - 2 * HOUR_MS)
      check(older.rows.filter((r) => r.pool === pool && r.outcome === 'success').length === 1, 'the older hour reads on its own', older.rows.length)
    },
  },
]
