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
  cascade: { cascade: SavingsArm; top: SavingsArm; escalations: number; savedUsdInStats: number }
  /** `[subtle]` tasks too (vague answers from the small tier): structural checks only, with a judge, and the top tier alone. */
  judged: { subtleShare: number; structural: SavingsArm & { vague: number }; judged: SavingsArm & { vague: number; judgeUsd: number }; top: SavingsArm & { vague: number } }
  cache: { cached: SavingsArm; uncached: SavingsArm }
  /** Prompt-cache affinity on agent conversations (bench/affinity.ts). */
  affinity?: AffinitySection
}

const SYSTEM = 'You are a careful assistant for an internal support desk. Answer precisely and cite the policy you rely on. '.repeat(20)

async function send(url: string, pool: string, text: string): Promise<{ ms: number; cache: string | null; cascade: string | null; vague: boolean }> {
  const t0 = performance.now()
  const res = await fetch(`${url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ system: [{ text: SYSTEM }], messages: [{ role: 'user', content: [{ text }] }], inferenceConfig: { maxTokens: 400 } }),
  })
  const json = (await res.json()) as any
  if (res.status !== 200) throw new Error(`${pool}: HTTP ${res.status}`)
  const answer = String(json.output?.message?.content?.[0]?.text ?? '')
  // The simulator's small models answer `[subtle]` tasks with a complete but vague "It depends …" (a quality loss).
  return { ms: performance.now() - t0, cache: res.headers.get('x-router-cache'), cascade: res.headers.get('x-router-cascade'), vague: /^It depends\b/.test(answer) }
}

/** Runs `texts` through `pool`, four at a time (bounded). */
async function workload(url: string, pool: string, texts: string[]) {
  const results: Array<Awaited<ReturnType<typeof send>>> = []
  for (let i = 0; i < texts.length; i += 4) results.push(...(await Promise.all(texts.slice(i, i + 4).map((t) => send(url, pool, t)))))
  return results
}

type PoolStats = { requests: number; costUsd: number; escalations: number; cascade?: { savedUsd: number } }
async function costByPool(url: string, expected: number): Promise<Record<string, PoolStats>> {
  for (let i = 0; i < 100; i++) {
    const stats = (await (await fetch(`${url}/stats?since=1h&by=pool`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { total: { requests: number }; groups: Array<{ keys: { pool: string } } & PoolStats> }
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
      // The same cascade with the subtle workload, structural checks only and with a judge (its own tier pool, so
      // each arm's spend is its own).
      small2: { deployments: [{ id: 'micro2-use1', modelId: MICRO, region: 'us-east-1', endpoint: e['us-east-1'] }] },
      small3: { deployments: [{ id: 'micro3-use1', modelId: MICRO, region: 'us-east-1', endpoint: e['us-east-1'] }] },
      judge: { deployments: [{ id: 'judge-micro', modelId: MICRO, region: 'us-east-1', endpoint: e['us-east-1'] }] },
      structural: { cascade: { tiers: ['small2'] }, deployments: [{ id: 'sonnet-structural', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      judged: { cascade: { tiers: ['small3'], judge: { pool: 'judge' } }, deployments: [{ id: 'sonnet-judged', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
      top2: { deployments: [{ id: 'sonnet-top2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] }] },
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

    // The subtle workload: a quarter hard (truncated by the small model), a quarter subtle (vague from it).
    const subtle = tasks.map((t, i) => (i % hardEvery === 1 ? `Ticket ${i}: [subtle] weigh the refund policies against each other` : t))

    const cascadeRuns = await workload(router.url, 'cascade', tasks)
    const topRuns = await workload(router.url, 'top', tasks)
    const cachedRuns = await workload(router.url, 'cached', repeated)
    const uncachedRuns = await workload(router.url, 'uncached', repeated)
    const structuralRuns = await workload(router.url, 'structural', subtle)
    const judgedRuns = await workload(router.url, 'judged', subtle)
    const top2Runs = await workload(router.url, 'top2', subtle)
    // Every tier's answer is a request of its own: the small tier's n, the escalations' second answers, the judge's
    // one per small-tier answer that passed the structural checks, and n per other arm.
    const escalatedIn = (runs: typeof cascadeRuns) => runs.filter((r) => r.cascade?.startsWith('escalated')).length
    const structurallyFailed = judgedRuns.filter((r) => /=(truncated|empty|refusal)/.test(r.cascade ?? '')).length
    const expected = 4 * n + escalatedIn(cascadeRuns) + 3 * n + escalatedIn(structuralRuns) + escalatedIn(judgedRuns) + (n - structurallyFailed)
    const pools = await costByPool(router.url, expected)
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
        // What /stats says the cascade saved (small tier's answers minus escalations' double pay), to set beside the measured difference.
        savedUsdInStats: (pools.small.cascade?.savedUsd ?? 0) + (pools.cascade.cascade?.savedUsd ?? 0),
      },
      judged: {
        subtleShare: 1 / hardEvery,
        structural: { ...arm(structuralRuns, pools.small2.costUsd + pools.structural.costUsd, structuralRuns.filter((r) => r.cascade?.startsWith('tier small2 passed')).length), vague: structuralRuns.filter((r) => r.vague).length },
        judged: {
          ...arm(judgedRuns, pools.small3.costUsd + pools.judged.costUsd + pools.judge.costUsd, judgedRuns.filter((r) => r.cascade?.startsWith('tier small3 passed')).length),
          vague: judgedRuns.filter((r) => r.vague).length,
          judgeUsd: pools.judge.costUsd,
        },
        top: { ...arm(top2Runs, pools.top2.costUsd, 0), vague: top2Runs.filter((r) => r.vague).length },
      },
      cache: {
        cached: arm(cachedRuns, pools.cached.costUsd, cachedRuns.filter((r) => r.cache === 'hit').length),
        uncached: arm(uncachedRuns, pools.uncached.costUsd, 0),
      },
    }
    const c = result.cascade
    opts.log(`  cascade: $${c.cascade.costUsd.toFixed(5)} vs top tier only $${c.top.costUsd.toFixed(5)} (${((1 - c.cascade.costUsd / c.top.costUsd) * 100).toFixed(0)} % less); small tier answered ${c.cascade.answeredCheaply}/${n}`)
    const j = result.judged
    opts.log(`  judge: $${j.judged.costUsd.toFixed(5)} (judge $${j.judged.judgeUsd.toFixed(5)}), ${j.judged.vague} vague answers; structural only $${j.structural.costUsd.toFixed(5)}, ${j.structural.vague} vague; top only $${j.top.costUsd.toFixed(5)}`)
    opts.log(`  /stats: cascade saved $${c.savedUsdInStats.toFixed(5)} (measured against the top-tier arm: $${(c.top.costUsd - c.cascade.costUsd).toFixed(5)})`)
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
