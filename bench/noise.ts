/**
 * Section 6: routing under noisy upstreams (virtual time, the real routing core). The upstream here does what the
 * router's design does not assume: throttles and fails at random below any quota, browns out, goes down, slows down,
 * shares its quota with traffic the router never sees, and storms. Every strategy runs against the same scenarios as
 * the baselines, in the same run:
 *   no router        : a client that tries each deployment at most once per request, in rotation (no state)
 *   LiteLLM cooldown : 3 failures a minute or any 429 → 5 s cooldown; all cooling down → refused
 *   multiplexer      : the Bedrock Model Multiplexer sample's policy
 *   oracle           : knows the true windows and hard outages (not the random faults)
 *
 * Three regions of one model, configured rpm 20,000 each (so configured limits never bind: only the noise does),
 * 600 requests a minute offered (Poisson), 3 virtual minutes per run, medians over seeds.
 */
import { parseRouterConfig } from '../src/config/schema'
import type { PoolConfig } from '../src/config/types'
import {
  litellmPolicy,
  multiplexerPolicy,
  noRouterPolicy,
  oraclePolicy,
  simulate,
  type PolicyFactory,
  type SimulationReport,
  type SimUpstreamConfig,
} from '../simulation/simulate'
import { median } from './lib/stats'

const MODEL = 'anthropic.claude-sonnet-4-5-20250929-v1:0'
export const NOISE_REGIONS = [
  { id: 'use1', region: 'us-east-1', latencyMs: 800, price: { input: 3, output: 15 } },
  { id: 'usw2', region: 'us-west-2', latencyMs: 900, price: { input: 3, output: 15 } },
  { id: 'euw1', region: 'eu-west-1', latencyMs: 1000, price: { input: 3.3, output: 16.5 } },
]
export const NOISE_DURATION_MS = 3 * 60_000
export const NOISE_RPM = 600
export const STORM = { fromMs: 60_000, toMs: 70_000 }

export interface NoiseScenario {
  name: string
  /** Per region id. */
  upstream: Record<string, SimUpstreamConfig>
  offeredRpm?: number | ((elapsedMs: number) => number)
  /** Report how long after STORM.toMs requests were still failing. */
  storm?: boolean
}

const each = (config: SimUpstreamConfig): Record<string, SimUpstreamConfig> =>
  Object.fromEntries(NOISE_REGIONS.map((r) => [r.id, { latencyMs: r.latencyMs, ...config }]))
const clean = each({})
const withRegion = (id: string, config: SimUpstreamConfig) => ({ ...clean, [id]: { ...clean[id], ...config } })

export const NOISE_SCENARIOS: NoiseScenario[] = [
  { name: 'clean', upstream: clean },
  { name: 'throttles 5 % each region', upstream: each({ throttleRate: 0.05 }) },
  { name: 'throttles 20 % each region', upstream: each({ throttleRate: 0.2 }) },
  { name: 'throttles 50 % each region', upstream: each({ throttleRate: 0.5 }) },
  { name: '5xx 1 % each region', upstream: each({ errorRate: 0.01, errorStatus: 503 }) },
  { name: '5xx 3 % each region', upstream: each({ errorRate: 0.03, errorStatus: 500 }) },
  { name: '5xx 10 % each region', upstream: each({ errorRate: 0.1, errorStatus: 503 }) },
  { name: 'mixed 2 % (1 % 429 + 1 % 5xx) each region', upstream: each({ throttleRate: 0.01, errorRate: 0.01, errorStatus: 503 }) },
  { name: 'brownout: us-east-1 50 % errors for 30 s', upstream: withRegion('use1', { outages: [{ fromMs: 60_000, toMs: 90_000, rate: 0.5 }] }) },
  { name: 'us-east-1 hard down', upstream: withRegion('use1', { outages: [{ fromMs: 0, toMs: NOISE_DURATION_MS }] }) },
  { name: 'us-east-1 slow (5 s)', upstream: withRegion('use1', { latencyMs: 5000 }) },
  {
    // The account quota of us-east-1 is really 300 rpm, and other traffic takes 200 of it: 100 left for the router.
    name: 'shared quota: us-east-1 really 100 rpm free',
    upstream: withRegion('use1', { rpm: 300, background: { rpm: 200 } }),
  },
  { name: 'burst: 5× load for 10 s a minute', upstream: each({ rpm: 400, throttleRate: 0.02 }), offeredRpm: (t) => (t % 60_000 < 10_000 ? 5 * NOISE_RPM : NOISE_RPM) },
  { name: 'storm: every region 100 % 429 for 10 s', upstream: each({ outages: [{ ...STORM, status: 429 }] }), storm: true },
  { name: 'storm: every region 100 % 503 for 10 s', upstream: each({ outages: [{ ...STORM, status: 503 }] }), storm: true },
]

export interface NoiseContender {
  name: string
  strategy: string
  policy?: PolicyFactory
  /** Pool fields beyond the defaults. */
  pool?: Record<string, unknown>
}

export const NOISE_CONTENDERS: NoiseContender[] = [
  { name: 'weighted', strategy: 'weighted' },
  { name: 'rate-limit-aware', strategy: 'rate-limit-aware' },
  { name: 'cost', strategy: 'cost' },
  { name: 'latency', strategy: 'latency' },
  { name: 'weighted, maxPacingMs 500', strategy: 'weighted', pool: { maxPacingMs: 500 } },
  { name: 'no router', strategy: 'weighted', policy: noRouterPolicy },
  { name: 'LiteLLM cooldown', strategy: 'weighted', policy: litellmPolicy },
  { name: 'multiplexer sample', strategy: 'weighted', policy: multiplexerPolicy },
  { name: 'oracle', strategy: 'weighted', policy: oraclePolicy },
]

/** The router's pools as a user would write them (defaults from the real config parser). */
export function noisePool(strategy: string, extra: Record<string, unknown> = {}): PoolConfig {
  return parseRouterConfig({
    pools: {
      noisy: {
        strategy,
        ...extra,
        deployments: NOISE_REGIONS.map((r) => ({ id: r.id, modelId: MODEL, region: r.region, rpm: 20_000, price: r.price })),
      },
    },
  }).pools.noisy
}

export interface NoiseRow {
  scenario: string
  contender: string
  /** Medians over seeds. */
  served: number
  servedVsNoRouter: number
  routerRefusals: number
  attemptsPerRequest: number
  p50Ms: number
  p95Ms: number
  /** Storm scenarios: ms after the storm ended until the last failed request arrived (0: none failed after it). */
  recoveryMs: number | null
}

export interface NoiseSection {
  rows: NoiseRow[]
  seeds: number[]
  elapsedMs: number
}

function request(rng: () => number) {
  return { inputTokens: Math.round(300 + 1500 * rng()), maxTokens: 1000, outputTokens: Math.round(50 + 400 * rng()), stream: rng() < 0.25 }
}

export function runNoiseCase(scenario: NoiseScenario, contender: NoiseContender, seed: number): SimulationReport {
  return simulate({
    pool: noisePool(contender.strategy, contender.pool),
    upstream: scenario.upstream,
    policy: contender.policy,
    durationMs: NOISE_DURATION_MS,
    offeredRpm: scenario.offeredRpm ?? NOISE_RPM,
    arrivals: 'poisson',
    request,
    seed,
    timeline: !!scenario.storm,
  })
}

/** How long after the storm ended requests still failed: the arrival of the last failed one, after the end. */
function recovery(r: SimulationReport): number {
  let last = -1
  for (const t of r.timeline ?? []) if (!t.ok && t.atMs >= STORM.toMs) last = Math.max(last, t.atMs)
  return last < 0 ? 0 : last - STORM.toMs
}

export function runNoise(opts: { seeds: number[]; log: (s: string) => void }): NoiseSection {
  const t0 = performance.now()
  const rows: NoiseRow[] = []
  for (const scenario of NOISE_SCENARIOS) {
    const baseline = opts.seeds.map((seed) => runNoiseCase(scenario, NOISE_CONTENDERS.find((c) => c.name === 'no router')!, seed))
    for (const c of NOISE_CONTENDERS) {
      const reports = c.name === 'no router' ? baseline : opts.seeds.map((seed) => runNoiseCase(scenario, c, seed))
      const per = (f: (r: SimulationReport, i: number) => number) => median(reports.map(f))
      rows.push({
        scenario: scenario.name,
        contender: c.name,
        served: per((r) => r.succeeded / r.requests),
        servedVsNoRouter: per((r, i) => r.succeeded / Math.max(1, baseline[i].succeeded)),
        routerRefusals: per((r) => r.refused / r.requests),
        attemptsPerRequest: per((r) => r.upstreamAttempts / r.requests),
        p50Ms: per((r) => r.latencyP50Ms),
        p95Ms: per((r) => r.latencyP95Ms),
        recoveryMs: scenario.storm ? per(recovery) : null,
      })
    }
    opts.log(`  ${scenario.name}: ${NOISE_CONTENDERS.length} contenders × ${opts.seeds.length} seeds`)
  }
  return { rows, seeds: opts.seeds, elapsedMs: performance.now() - t0 }
}
