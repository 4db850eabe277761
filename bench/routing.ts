/**
 * Section 5: routing quality in virtual time (simulation/simulate.ts: deterministic, seeded, no I/O), on the real
 * routing core (`decide` / `record` through the engine policy), against baselines from simulation/baselines.ts:
 *   multiplexer-sample : weighted random, fails over only after a 429, with the Bedrock multiplexer sample's breaker
 *                        that counts throttles (5 in 60 s open it for 30 s) — the "naive baseline"
 *   naive-random       : weighted random, no failover, no breaker
 *   oracle             : knows every deployment's true window; sends only where Bedrock has room, else rejects
 *
 * Three regions with RPM and TPM quotas; bursty offered load (Poisson arrivals, 20 s at 1.6× then 40 s at 0.7× of the
 * level, so the mean is the level) at 50 … 150 % of the aggregate RPM quota; several seeds, medians reported.
 */
import { parseRouterConfig } from '../src/config/schema'
import type { PoolConfig } from '../src/config/types'
import { multiplexerPolicy, naivePolicy, oraclePolicy, simulate, type PolicyFactory, type SimRequest, type SimulationReport, type SimUpstreamConfig } from '../simulation/simulate'
import { median } from './lib/stats'

export const LOADS = [0.5, 0.75, 1, 1.25, 1.5]
const MODEL = 'anthropic.claude-sonnet-4-5-20250929-v1:0'

interface RegionSpec {
  id: string
  region: string
  rpm: number
  tpm: number
  latencyMs: number
  price: { input: number; output: number }
}

export const REGION_SPECS: RegionSpec[] = [
  { id: 'use1', region: 'us-east-1', rpm: 120, tpm: 400_000, latencyMs: 700, price: { input: 3, output: 15 } },
  { id: 'usw2', region: 'us-west-2', rpm: 80, tpm: 260_000, latencyMs: 900, price: { input: 3, output: 15 } },
  { id: 'euw1', region: 'eu-west-1', rpm: 40, tpm: 140_000, latencyMs: 1300, price: { input: 3.3, output: 16.5 } },
]
export const AGGREGATE_RPM = REGION_SPECS.reduce((n, r) => n + r.rpm, 0)
export const AGGREGATE_TPM = REGION_SPECS.reduce((n, r) => n + r.tpm, 0)
export const DURATION_MS = 10 * 60_000
export const MAX_QUEUE_MS = 5000

/** Request mix: input 200–3,000 tokens, maxTokens 1,000, output 50–600 tokens, one in four streamed. */
export function requestMix(rng: () => number): SimRequest {
  const inputTokens = Math.round(200 + 2800 * rng() * rng())
  const outputTokens = Math.round(50 + 550 * rng())
  return { inputTokens, maxTokens: 1000, outputTokens, stream: rng() < 0.25 }
}

/** 20 s at 1.6× the level, then 40 s at 0.7× (mean = the level). */
export function bursty(rpm: number): (elapsedMs: number) => number {
  return (t) => (t % 60_000 < 20_000 ? 1.6 * rpm : 0.7 * rpm)
}

export interface Contender {
  name: string
  strategy: string
  policy?: PolicyFactory
  maxQueueMs?: number
  /** Deployments use prompt-router ARNs (bedrock-ipr). */
  promptRouter?: boolean
}

export const CONTENDERS: Contender[] = [
  { name: 'weighted', strategy: 'weighted' },
  { name: 'rate-limit-aware', strategy: 'rate-limit-aware' },
  { name: `rate-limit-aware, maxQueueMs ${MAX_QUEUE_MS}`, strategy: 'rate-limit-aware', maxQueueMs: MAX_QUEUE_MS },
  { name: 'cost', strategy: 'cost' },
  { name: 'latency', strategy: 'latency' },
  { name: 'bedrock-ipr', strategy: 'bedrock-ipr', promptRouter: true },
  { name: 'baseline: multiplexer sample', strategy: 'weighted', policy: multiplexerPolicy },
  { name: 'baseline: naive random', strategy: 'weighted', policy: naivePolicy },
  { name: 'oracle', strategy: 'weighted', policy: oraclePolicy },
]

/** The pool as a user would write it, through the real config parser (defaults included). */
export function poolFor(c: Contender): PoolConfig {
  const config = parseRouterConfig({
    pools: {
      sim: {
        strategy: c.strategy,
        ...(c.maxQueueMs ? { maxQueueMs: c.maxQueueMs } : {}),
        deployments: REGION_SPECS.map((r) => ({
          id: r.id,
          modelId: c.promptRouter ? `arn:aws:bedrock:${r.region}:123456789012:default-prompt-router/anthropic.claude:1` : MODEL,
          region: r.region,
          rpm: r.rpm,
          tpm: r.tpm,
          // weighted by quota, as the multiplexer sample's README suggests setting weights
          weight: r.rpm,
          price: r.price,
          ...(c.promptRouter ? { burndown: 5, maxOutputTokens: 64_000 } : {}),
        })),
      },
    },
  })
  return config.pools.sim
}

export const UPSTREAM: Record<string, SimUpstreamConfig> = Object.fromEntries(
  REGION_SPECS.map((r) => [r.id, { rpm: r.rpm, tpm: r.tpm, latencyMs: r.latencyMs }]),
)

export interface QualityRow {
  contender: string
  load: number
  /** Medians over seeds. */
  quotaUsed: number
  tokenQuotaUsed: number
  servedVsOracle: number
  clientThrottlesPerRequest: number
  clientFailuresPerRequest: number
  upstreamThrottlesPerRequest: number
  failoversPerRequest: number
  queuedPerRequest: number
  p95Ms: number
  costPer1000: number
  requests: number
}

export interface SmoothRow {
  contender: string
  quotaUsed: number
  clientThrottlesPerRequest: number
  upstreamThrottlesPerRequest: number
  p95Ms: number
}

export interface RoutingSection {
  rows: QualityRow[]
  smooth: SmoothRow[]
  seeds: number[]
  elapsedMs: number
  error?: string
}

function run(c: Contender, load: number, seed: number, smooth = false): SimulationReport {
  const rpm = AGGREGATE_RPM * load
  return simulate({
    pool: poolFor(c),
    upstream: UPSTREAM,
    policy: c.policy,
    durationMs: DURATION_MS,
    offeredRpm: smooth ? rpm : bursty(rpm),
    arrivals: smooth ? 'smooth' : 'poisson',
    request: requestMix,
    seed,
  })
}

export function runRouting(opts: { seeds: number[]; log: (s: string) => void }): RoutingSection {
  const t0 = performance.now()
  const rows: QualityRow[] = []
  for (const load of LOADS) {
    const oracle = opts.seeds.map((seed) => run(CONTENDERS.find((c) => c.name === 'oracle')!, load, seed))
    for (const c of CONTENDERS) {
      const reports = c.name === 'oracle' ? oracle : opts.seeds.map((seed) => run(c, load, seed))
      const per = (f: (r: SimulationReport, i: number) => number) => median(reports.map(f))
      rows.push({
        contender: c.name,
        load,
        quotaUsed: per((r) => r.quotaUsed ?? NaN),
        tokenQuotaUsed: per((r) => r.tokenQuotaUsed ?? NaN),
        servedVsOracle: per((r, i) => r.succeeded / Math.max(1, oracle[i].succeeded)),
        clientThrottlesPerRequest: per((r) => r.clientThrottled / r.requests),
        clientFailuresPerRequest: per((r) => r.clientFailed / r.requests),
        upstreamThrottlesPerRequest: per((r) => r.upstreamThrottles / r.requests),
        failoversPerRequest: per((r) => r.failovers / r.requests),
        queuedPerRequest: per((r) => r.queued / r.requests),
        p95Ms: per((r) => r.latencyP95Ms),
        costPer1000: per((r) => r.costPer1000Requests),
        requests: per((r) => r.requests),
      })
    }
    opts.log(`  load ${Math.round(load * 100)} %: ${CONTENDERS.length} contenders × ${opts.seeds.length} seeds`)
  }
  // Smooth load at exactly 100 % of the aggregate quota: the bounded-wait target.
  const smooth: SmoothRow[] = []
  for (const c of CONTENDERS.filter((x) => x.strategy === 'rate-limit-aware' || x.name === 'oracle' || x.name === 'baseline: multiplexer sample')) {
    const reports = opts.seeds.map((seed) => run(c, 1, seed, true))
    const per = (f: (r: SimulationReport) => number) => median(reports.map(f))
    smooth.push({
      contender: c.name,
      quotaUsed: per((r) => r.quotaUsed ?? NaN),
      clientThrottlesPerRequest: per((r) => r.clientThrottled / r.requests),
      upstreamThrottlesPerRequest: per((r) => r.upstreamThrottles / r.requests),
      p95Ms: per((r) => r.latencyP95Ms),
    })
  }
  return { rows, smooth, seeds: opts.seeds, elapsedMs: performance.now() - t0 }
}
