/**
 * Section 7: spending less for the same answers — cascade routing and the response cache, through the router in
 * workerd (as `npm start` runs it) against the simulator, each beside the baseline in the same run.
 *
 *   cascade : an agent-like workload (a long system prompt, a short question) where a known share of the tasks is
 *             hard (`[hard]`: the simulator's small models answer those truncated). Pool `cascade` tries Nova Micro
 *             first and escalates to Claude Sonnet on a failed check; pool `top` sends everything to Sonnet. Cost is
 *             every tier's real cost (from /stats), so escalations are paid for.
 *   cache   : the same workload with a share of exact repeats (an agent re-asking, a retried page: each repeats a task two
 *             batches earlier), against a pool
 *             with a response cache and the same pool without.
 *   affinity: multi-turn agent conversations with prompt-cache breakpoints, affinity on / off / an oracle (bench/affinity.ts).
 */
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { startSimulator } from '../simulator/node-server'
import { startRouter } from '../scripts/router-runtime'
import { runAffinity, type AffinitySection } from './affinity'
import { median } from './lib/stats'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const MICRO = 'us.amazon.nova-micro-v1:0'
const KEY = 'bench-savings-key'
const ADMIN = 'bench-savings-admin'

export interface SavingsArm {
  requests: number
  costUsd: number
  costPerRequestUsd: number
  p50LatencyMs: number
  /** Cascade: answered by the small tier; cache: answered from the cache. */
  answeredCheaply: number
}

export interface SavingsSection {
  hardShare: number
  repeatShare: number
  requests: number
  cascade: { cascade: SavingsArm; top: SavingsArm; escalations: number }
  cache: { cached: SavingsArm; uncached: SavingsArm }
  /** Prompt-cache affinity on agent conversations (bench/affinity.ts). */
  affinity?: AffinitySection
}

const SYSTEM = 'You are a careful assistant for an internal support desk. Answer precisely and cite the policy you rely on. '.repeat(20)

async function send(url: string, pool: string, text: string): Promise<{ ms: number; cache: string | null; cascade: string | null }> {
  const t0 = performance.now()
  const res = await fetch(`${url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ system: [{ text: SYSTEM }], messages: [{ role: 'user', content: [{ text }] }], inferenceConfig: { maxTokens: 400 } }),
  })
  await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${pool}: HTTP ${res.status}`)
  return { ms: performance.now() - t0, cache: res.headers.get('x-router-cache'), cascade: res.headers.get('x-router-cascade') }
}

/** Runs `texts` through `pool`, four at a time (bounded). */
async function workload(url: string, pool: string, texts: string[]) {
  const results: Array<Awaited<ReturnType<typeof send>>> = []
  for (let i = 0; i < texts.length; i += 4) results.push(...(await Promise.all(texts.slice(i, i + 4).map((t) => send(url, pool, t)))))
  return results
}

async function costByPool(url: string, expected: number): Promise<Record<string, { requests: number; costUsd: number; escalations: number }>> {
  for (let i = 0; i < 100; i++) {
    const stats = (await (await fetch(`${url}/stats?since=1h&by=pool`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { total: { requests: number }; groups: Array<{ keys: { pool: string }; requests: number; costUsd: number; escalations: number }> }
    if (stats.total.requests >= expected) return Object.fromEntries(stats.groups.map((g) => [g.keys.pool, g]))
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('the accounting never caught up')
}

export async function runSavings(opts: { requests: number; hardShare: number; repeatShare: number; log: (line: string) => void }): Promise<SavingsSection> {
  const sim = await startSimulator({ regions: ['us-east-1', 'us-west-2'] })
  const e = sim.endpoints
  const config = {
    pools: {
      small: { deployments: [{ id: 'micro-use1', modelId: MICRO, region: 'us-east-1', endpoint: e['us-east-1'] }] },
      cascade: { cascade: { tiers: ['small'] }, deployments: [{ id: 'sonnet-cascade', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      top: { deployments: [{ id: 'sonnet-top', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      cached: { cache: { ttlSeconds: 3600 }, deployments: [{ id: 'sonnet-cached', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      uncached: { deployments: [{ id: 'sonnet-uncached', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
    },
  }
  const router = await startRouter({
    vars: { ROUTER_CONFIG: JSON.stringify(config), ROUTER_API_KEYS: KEY, ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100', AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY },
  })
  try {
    const n = opts.requests
    // Deterministic: every k-th task is hard, every j-th a repeat of an earlier one.
    const hardEvery = Math.round(1 / opts.hardShare)
    const tasks = Array.from({ length: n }, (_, i) => `Ticket ${i}: ${i % hardEvery === 0 ? '[hard] reconcile the three conflicting refund policies' : 'what are the opening hours?'}`)
    const repeatEvery = Math.round(1 / opts.repeatShare)
    // A repeat asks again what was asked two batches earlier (a concurrent duplicate could not hit: its twin is in flight).
    const repeated = tasks.map((t, i) => (i >= 8 && i % repeatEvery === 0 ? tasks[i - 8] : t))

    const cascadeRuns = await workload(router.url, 'cascade', tasks)
    const topRuns = await workload(router.url, 'top', tasks)
    const cachedRuns = await workload(router.url, 'cached', repeated)
    const uncachedRuns = await workload(router.url, 'uncached', repeated)
    // Every tier's answer is a request of its own: the small tier's n, the escalations' second answers, and n per other arm.
    const escalated = cascadeRuns.filter((r) => r.cascade?.startsWith('escalated')).length
    const pools = await costByPool(router.url, 4 * n + escalated)
    const arm = (runs: typeof cascadeRuns, costUsd: number, cheap: number): SavingsArm => ({
      requests: runs.length,
      costUsd,
      costPerRequestUsd: costUsd / runs.length,
      p50LatencyMs: median(runs.map((r) => r.ms)),
      answeredCheaply: cheap,
    })
    const result: SavingsSection = {
      hardShare: 1 / hardEvery,
      repeatShare: 1 / repeatEvery,
      requests: n,
      cascade: {
        cascade: arm(cascadeRuns, pools.small.costUsd + pools.cascade.costUsd, cascadeRuns.filter((r) => r.cascade?.startsWith('tier small passed')).length),
        top: arm(topRuns, pools.top.costUsd, 0),
        escalations: pools.small.escalations,
      },
      cache: {
        cached: arm(cachedRuns, pools.cached.costUsd, cachedRuns.filter((r) => r.cache === 'hit').length),
        uncached: arm(uncachedRuns, pools.uncached.costUsd, 0),
      },
    }
    const c = result.cascade
    opts.log(`  cascade: $${c.cascade.costUsd.toFixed(5)} vs top tier only $${c.top.costUsd.toFixed(5)} (${((1 - c.cascade.costUsd / c.top.costUsd) * 100).toFixed(0)} % less); small tier answered ${c.cascade.answeredCheaply}/${n}`)
    const k = result.cache
    opts.log(`  cache: $${k.cached.costUsd.toFixed(5)} vs $${k.uncached.costUsd.toFixed(5)}; ${k.cached.answeredCheaply}/${n} hits`)
    return result
  } finally {
    await router.close()
    await sim.close()
  }
}

/** The cascade and cache arms, then prompt-cache affinity (its own simulator and router: three regions). */
export async function runSpendingLess(opts: Parameters<typeof runSavings>[0] & { conversations: number; turns: number }): Promise<SavingsSection> {
  const result = await runSavings(opts)
  result.affinity = await runAffinity(opts)
  return result
}
