/**
 * Section 5c, prompt-cache affinity: multi-turn agent conversations (a long shared system prompt, a breakpoint after
 * it and after the newest message, each turn adding a tool result) through the router in workerd against the
 * simulator, whose prompt caches are per deployment (account, region, model) with Claude's look-back. Three arms,
 * each from an empty cache (simulator reset) in the same run:
 *   on     : a rate-limit-aware pool of three deployments, affinity on (the default)
 *   off    : the same pool with `affinity: false`
 *   oracle : each conversation pinned to one deployment for its whole life (its own pool), conversations dealt
 *            round-robin — every turn finds its history cached, the most a router could get from the caches
 * Reported per arm: the share of input tokens read from the cache, the cost (from /stats, cache reads and writes at
 * their prices), requests refused or throttled (the quotas must still hold: each deployment has an rpm the
 * simulator enforces and the router knows), and how unevenly the deployments were loaded (the busiest one's
 * requests over an even share).
 */
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { startSimulator } from '../simulator/node-server'
import { startRouter } from '../scripts/router-runtime'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'] as const
const KEY = 'bench-affinity-key'
const ADMIN = 'bench-affinity-admin'
/** Each deployment's quota (simulator) and configured rpm (router): about twice what the workload needs. */
const RPM = 600
const SYSTEM = 'You are an operations agent. Use the tools, quote the runbook, and never guess. '.repeat(90) // ≈ 1,800 tokens
const TOOL_OUTPUT = 'log line: service healthy, latency nominal, queue depth 3; '.repeat(20) // ≈ 300 tokens

export interface AffinityArm {
  requests: number
  served: number
  /** Refused by the router (429/503) or throttled upstream and not recovered. */
  refused: number
  /** Attempts the simulator throttled (failed over). */
  upstreamThrottles: number
  /** Input tokens read from the cache / all input tokens (uncached + cache write + cache read). */
  cacheReadShare: number
  costUsd: number
  /** Requests of the busiest deployment over an even share (1 = perfectly even). */
  imbalance: number
  /** x-router-affinity: hit / new / spill counts (the `on` arm). */
  affinity: Record<string, number>
}

export interface AffinitySection {
  conversations: number
  turns: number
  rpmPerDeployment: number
  on: AffinityArm
  off: AffinityArm
  oracle: AffinityArm
}

type Msg = { role: 'user' | 'assistant'; content: Array<Record<string, unknown>> }
const point = { cachePoint: { type: 'default' } }

interface TurnResult {
  status: number
  deployment: string | null
  affinity: string | null
  throttles: number
  usage?: { inputTokens: number; cacheReadInputTokens?: number; cacheWriteInputTokens?: number }
  answer: string
}

async function turn(url: string, pool: string, history: Msg[]): Promise<TurnResult> {
  const messages = history.map((m, i) => (i === history.length - 1 ? { ...m, content: [...m.content, point] } : m))
  const res = await fetch(`${url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ system: [{ text: SYSTEM }, point], messages, inferenceConfig: { maxTokens: 120 } }),
  })
  const json = (await res.json()) as any
  const throttles = (res.headers.get('x-router-failovers') ?? '').split(',').filter((s) => s.includes('throttled')).length
  return {
    status: res.status,
    deployment: res.headers.get('x-router-deployment'),
    affinity: res.headers.get('x-router-affinity'),
    throttles,
    usage: json.usage,
    answer: res.status === 200 ? (json.output.message.content[0]?.text ?? '') : '',
  }
}

/** `conversations` conversations of `turns` turns, eight at a time; conversation c goes to `poolOf(c)`. */
async function workload(url: string, conversations: number, turns: number, poolOf: (c: number) => string): Promise<TurnResult[]> {
  const results: TurnResult[] = []
  let next = 0
  const one = async (c: number) => {
    const history: Msg[] = []
    for (let t = 0; t < turns; t++) {
      history.push({ role: 'user', content: [{ text: `Incident ${c}, step ${t}. Tool result: ${TOOL_OUTPUT}` }] })
      const r = await turn(url, poolOf(c), history)
      results.push(r)
      history.push({ role: 'assistant', content: [{ text: r.answer || 'no answer' }] })
    }
  }
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let c = next++; c < conversations; c = next++) await one(c)
  }))
  return results
}

async function costOf(url: string, pools: string[], expected: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const stats = (await (await fetch(`${url}/stats?since=1h&by=pool`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { groups: Array<{ keys: { pool: string }; requests: number; costUsd: number }> }
    const mine = stats.groups.filter((g) => pools.includes(g.keys.pool))
    if (mine.reduce((n, g) => n + g.requests, 0) >= expected) return mine.reduce((n, g) => n + g.costUsd, 0)
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('the accounting never caught up')
}

function summarise(results: TurnResult[], costUsd: number): AffinityArm {
  let read = 0
  let all = 0
  const per: Record<string, number> = {}
  const affinity: Record<string, number> = {}
  for (const r of results) {
    if (r.deployment) per[r.deployment.replace(/^[a-z]+-/, '')] = (per[r.deployment.replace(/^[a-z]+-/, '')] ?? 0) + 1
    if (r.affinity) {
      const k = r.affinity.split(':')[0]
      affinity[k] = (affinity[k] ?? 0) + 1
    }
    if (!r.usage) continue
    read += r.usage.cacheReadInputTokens ?? 0
    all += r.usage.inputTokens + (r.usage.cacheReadInputTokens ?? 0) + (r.usage.cacheWriteInputTokens ?? 0)
  }
  const counts = REGIONS.map((region) => per[region] ?? 0)
  return {
    requests: results.length,
    served: results.filter((r) => r.status === 200).length,
    refused: results.filter((r) => r.status !== 200).length,
    upstreamThrottles: results.reduce((n, r) => n + r.throttles, 0),
    cacheReadShare: all ? read / all : 0,
    costUsd,
    imbalance: Math.max(...counts) / Math.max(1, results.length / REGIONS.length),
    affinity,
  }
}

export async function runAffinity(opts: { conversations: number; turns: number; log: (line: string) => void }): Promise<AffinitySection> {
  const sim = await startSimulator({ regions: [...REGIONS] })
  const e = sim.endpoints
  const deployments = (prefix: string) => REGIONS.map((region) => ({ id: `${prefix}-${region}`, modelId: SONNET, region, endpoint: e[region], rpm: RPM }))
  const pools: Record<string, unknown> = {
    on: { strategy: 'rate-limit-aware', deployments: deployments('on') },
    off: { strategy: 'rate-limit-aware', affinity: false, deployments: deployments('off') },
  }
  REGIONS.forEach((region, i) => (pools[`pin${i}`] = { strategy: 'rate-limit-aware', deployments: [{ id: `pin-${region}`, modelId: SONNET, region, endpoint: e[region], rpm: RPM }] }))
  const router = await startRouter({
    vars: { ROUTER_CONFIG: JSON.stringify({ pools }), ROUTER_API_KEYS: KEY, ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100', AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY },
  })
  const fresh = async () => {
    // An empty cache per arm, and the quota the router is told about enforced upstream.
    await fetch(`${sim.controlUrl}/__sim/reset`, { method: 'POST', body: '{}' })
    for (const region of REGIONS) await fetch(`${sim.controlUrl}/__sim/quota`, { method: 'POST', body: JSON.stringify({ region, modelId: SONNET, rpm: RPM }) })
  }
  try {
    const { conversations: n, turns } = opts
    const total = n * turns
    await fresh()
    const on = await workload(router.url, n, turns, () => 'on')
    await fresh()
    const off = await workload(router.url, n, turns, () => 'off')
    await fresh()
    const oracle = await workload(router.url, n, turns, (c) => `pin${c % REGIONS.length}`)
    const result: AffinitySection = {
      conversations: n,
      turns,
      rpmPerDeployment: RPM,
      on: summarise(on, await costOf(router.url, ['on'], total)),
      off: summarise(off, await costOf(router.url, ['off'], total)),
      oracle: summarise(oracle, await costOf(router.url, ['pin0', 'pin1', 'pin2'], total)),
    }
    const line = (name: string, a: AffinityArm) =>
      `  affinity ${name}: cache read ${(a.cacheReadShare * 100).toFixed(1)} %, $${a.costUsd.toFixed(4)}, refused ${a.refused}, upstream throttles ${a.upstreamThrottles}, imbalance ${a.imbalance.toFixed(2)}`
    opts.log(line('on', result.on))
    opts.log(line('off', result.off))
    opts.log(line('oracle', result.oracle))
    return result
  } finally {
    await router.close()
    await sim.close()
  }
}
