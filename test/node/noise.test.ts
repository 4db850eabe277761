/**
 * Sporadic upstream faults must not become refusals. Each case runs the same seeded random faults twice against
 * the simulator's three regions: once through the router (in workerd), once with the no-router baseline client
 * (./no-router.ts: try each region once, in turn, stop at the first success). The router must serve at least what
 * the baseline serves, minus a binomial tolerance, and at least an absolute floor; every answer it does not serve
 * must be a well-formed error; and it must never refuse while a region it did not try could have served.
 *
 * Scenarios (every strategy × Converse / ConverseStream, a fifth of the streams as SSE):
 *   (a) 20 % random throttles in every region      a client serves 1 − 0.2³ = 99.2 %; floor 97 %
 *   (b) 3 % random 500/503 in every region         a client serves 1 − 0.03³ ≈ 100 %; floor 99 %
 *   (c) us-east-1 hard down (503), others clean     a client serves 100 %; floor 98 %
 *   (d) us-east-1 at 50 % 503 (brownout)           a client serves 100 %; floor 98 %
 *   (e) a storm of 100 % throttles everywhere, then none: full service again within 2 s
 * plus (a) and (b) through three isolates sharing one Durable Object namespace.
 *
 * NOISE_REPORT=<path> also writes every case's figures as JSON.
 */
import { writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import type { FaultRule } from '../../simulator/types'
import { startRouter, type RouterProcess } from '../../scripts/router-runtime'
import { CLIENT_KEY, startHarness, type Harness, type Simulator } from './harness'
import { NoRouterClient } from './no-router'
import {
  UPSTREAM_TAG,
  binomialTolerance,
  binomialUpperTail,
  describeRun,
  readOutcome,
  runLoad,
  summarise,
  triedByRouter,
  type Format,
  type Operation,
  type RequestResult,
  type RunSummary,
} from './noise-kit'

const MODEL = 'us.anthropic.claude-sonnet-4-6'
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'] as const
const SHORT: Record<string, string> = { 'us-east-1': 'use1', 'us-west-2': 'usw2', 'eu-west-1': 'euw1' }
const STRATEGIES = ['weighted', 'rate-limit-aware', 'cost', 'latency'] as const
type Strategy = (typeof STRATEGIES)[number]
const OPERATIONS: Operation[] = ['converse', 'converse-stream']
const CONCURRENCY = 8
/** A request that gets no complete answer in this time is reported as malformed (keeps every case bounded). */
const REQUEST_TIMEOUT_MS = 10_000
/**
 * Per comparison: the chance that a router exactly as good as the baseline fails it by luck. 40 comparisons in
 * the file → at most 0.04 % for the whole file; the floors add about 0.06 % (see scenario (a)).
 */
const ALPHA = 1e-5

interface RandomScenario {
  key: 'a' | 'b' | 'c' | 'd'
  title: string
  rules: FaultRule[]
  /** P(a request fails) for a client that tries each of the three regions once: the baseline's model. */
  clientFailureProbability: number
  floor: number
  n: number
  /** Regions that cannot serve any request in this scenario. */
  down: string[]
}

const tag = (what: string) => `${UPSTREAM_TAG} ${what}`
const RANDOM_SCENARIOS: RandomScenario[] = [
  {
    key: 'a',
    title: '(a) 20 % random throttles in every region',
    rules: [{ fault: 'throttle', probability: 0.2, message: tag('random throttle') }],
    clientFailureProbability: 0.2 ** 3,
    // n = 400: P(Binomial(400, 0.008) > 12) ≈ 2.8e-5, so a router as good as a client misses the 97 % floor only
    // by extreme luck (11 cases, each checking the router and the baseline: ≈ 6e-4 for the file); at n = 300 that
    // chance is 1.8e-4 per check, at 200 it is 1.3e-3.
    floor: 0.97,
    n: 400,
    down: [],
  },
  {
    key: 'b',
    title: '(b) 3 % random 500/503 in every region',
    rules: [
      { fault: 'error', status: 503, errorType: 'ServiceUnavailableException', probability: 0.015, message: tag('random 503') },
      // Drawn only when the 503 rule did not strike: 0.015 + 0.985 × 0.01523 = 0.030 in all.
      { fault: 'error', status: 500, errorType: 'InternalServerException', probability: 0.015 / 0.985, message: tag('random 500') },
    ],
    clientFailureProbability: 0.03 ** 3,
    floor: 0.99,
    // n = 900: each region then sees ~9 failures within the minute, past a count-based breaker's threshold (5 in
    // 60 s by default), which is how sporadic errors turn into refusals; at 300 it is seldom reached.
    n: 900,
    down: [],
  },
  {
    key: 'c',
    title: '(c) us-east-1 hard down (every request 503), the others clean',
    rules: [{ fault: 'error', region: 'us-east-1', status: 503, errorType: 'ServiceUnavailableException', message: tag('region down') }],
    clientFailureProbability: 0,
    floor: 0.98,
    n: 200,
    down: ['us-east-1'],
  },
  {
    key: 'd',
    title: '(d) us-east-1 at 50 % 503 (brownout), the others clean',
    rules: [{ fault: 'error', region: 'us-east-1', status: 503, errorType: 'ServiceUnavailableException', probability: 0.5, message: tag('brownout') }],
    clientFailureProbability: 0,
    floor: 0.98,
    n: 200,
    down: [],
  },
]

/** (e): requests sent while every region throttles everything, then how fast service is whole again. */
const STORM_REQUESTS = 24
const RECOVERY_WITHIN_MS = 2_000
/** Probing goes on this long so that a slow recovery is measured, not only flagged. */
const RECOVERY_PROBE_LIMIT_MS = 5_000
const RECOVERY_PROBE_GAP_MS = 100
const AFTER_STORM_REQUESTS = 100

const requestBody = (i: number) => JSON.stringify({ messages: [{ role: 'user', content: [{ text: `noise request ${i}` }] }], inferenceConfig: { maxTokens: 64 } })
/** A fifth of the streams ask for SSE (`Accept: text/event-stream`); the rest take the binary event stream. */
const formatOf = (operation: Operation, i: number): Format => (operation === 'converse' ? 'json' : i % 5 === 4 ? 'sse' : 'binary')

const deploymentIds = (pool: string) => Object.fromEntries(REGIONS.map((r) => [`${pool}-${SHORT[r]}`, r]))
function poolConfig(pool: string, strategy: Strategy, endpoints: Record<string, string>) {
  // Default breaker and timeouts on purpose: the noise behaviour under test is the router's default.
  return {
    strategy,
    deployments: REGIONS.map((region) => ({
      id: `${pool}-${SHORT[region]}`,
      modelId: MODEL,
      region,
      endpoint: endpoints[region],
      ...(strategy === 'rate-limit-aware' ? { rpm: 20_000 } : {}),
    })),
  }
}

type Fetcher = (input: string, init?: RequestInit) => Promise<Response>

/**
 * One request through the router; `fetcher` reaches the worker (HTTP, or one isolate of several). The deadline is
 * enforced here as well as through `signal` (Miniflare's per-worker fetcher may not honour it), and a request
 * that misses it says how far it got, so a hang is a failure with a cause, never a test timeout.
 */
async function viaRouter(fetcher: Fetcher, base: string, pool: string, operation: Operation, i: number): Promise<RequestResult> {
  const format = formatOf(operation, i)
  const headers: Record<string, string> = { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }
  if (format === 'sse') headers.accept = 'text/event-stream'
  const startedAt = Date.now()
  let stage = 'waiting for the response head'
  let res: Response | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no complete answer within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS)
  })
  try {
    const answer = (async () => {
      res = await fetcher(`${base}/model/${pool}/${operation}`, { method: 'POST', body: requestBody(i), headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
      const trace: string[] = []
      res.headers.forEach((v, k) => void (k.startsWith('x-router-') && trace.push(`${k}: ${v}`)))
      stage = `reading the body of a ${res.status} (${trace.join('; ')})`
      return readOutcome(res, format)
    })()
    answer.catch(() => {}) // lost the race: its late rejection is not this test's concern
    const outcome = await Promise.race([answer, deadline])
    return { outcome, attempts: Number(res?.headers.get('x-router-attempts') ?? 0), tried: res ? triedByRouter(res) : [], startedAt }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e)
    return { outcome: { kind: 'malformed', detail: `request ${i} (${operation}, ${format}): no answer from the router (${why}) while ${stage}` }, attempts: 0, tried: [], startedAt }
  } finally {
    clearTimeout(timer)
  }
}

interface Bench {
  control(path: string, body?: unknown): Promise<any>
  endpoints: Record<string, string>
  /** One request through the router. */
  router(pool: string, operation: Operation | 'mixed', i: number): Promise<RequestResult>
}

/** `mixed`: even requests Converse, odd ones ConverseStream (the multi-isolate cases). */
const operationOf = (operation: Operation | 'mixed', i: number): Operation => (operation === 'mixed' ? (i % 2 ? 'converse-stream' : 'converse') : operation)

async function upstreamTotals(bench: Bench) {
  const stats = (await bench.control('/__sim/stats')) as Record<string, Record<string, { accepted: number; rejected: number }>>
  let accepted = 0
  let rejected = 0
  for (const region of Object.values(stats)) for (const m of Object.values(region)) (accepted += m.accepted), (rejected += m.rejected)
  return { accepted, rejected }
}

async function installRules(bench: Bench, seed: number, rules: FaultRule[]) {
  const reset = await bench.control('/__sim/reset', { seed })
  if (reset?.seed !== seed) throw new Error(`simulator reset did not take seed ${seed}: ${JSON.stringify(reset)}`)
  if (rules.length) await bench.control('/__sim/rules', rules)
}

interface CaseRecord {
  name: string
  router: RunSummary
  baseline: RunSummary
  tolerance?: number
  floor?: number
  recoveryMs?: { router: number | null; baseline: number | null }
}
const records: CaseRecord[] = []

/**
 * Where the running case is, so a case that runs out of time fails naming the step it was in (and how many
 * requests had been answered) instead of a bare test timeout.
 */
const progress = { step: 'not started' }

/** `n` requests, CONCURRENCY at a time, counting answers into the case's progress. */
function countedLoad<T>(label: string, n: number, one: (i: number) => Promise<T>): Promise<T[]> {
  let answered = 0
  progress.step = `${label}: 0/${n} answered`
  return runLoad(n, CONCURRENCY, async (i) => {
    const r = await one(i)
    progress.step = `${label}: ${++answered}/${n} answered`
    return r
  })
}

/** Runs a case with a deadline below the test's own timeout; past it, the failure says where the case was. */
async function withinCase(ms: number, run: () => Promise<void>): Promise<void> {
  progress.step = 'starting'
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the case did not finish within ${ms} ms; it was at: ${progress.step}`)), ms)
  })
  try {
    await Promise.race([run(), deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Runs one random-fault scenario through the router and through the baseline, with the same rules and seed. */
async function compare(bench: Bench, name: string, pool: string, operation: Operation | 'mixed', s: RandomScenario, seed: number) {
  const down = new Set(s.down)
  progress.step = 'installing the fault rules (router run)'
  await installRules(bench, seed, s.rules)
  const viaRouterResults = await countedLoad('through the router', s.n, (i) => bench.router(pool, operation, i))
  progress.step = 'reading the simulator totals (router run)'
  const routerUpstream = await upstreamTotals(bench)

  progress.step = 'installing the fault rules (baseline run)'
  await installRules(bench, seed, s.rules)
  const client = new NoRouterClient(REGIONS.map((region) => ({ region, endpoint: bench.endpoints[region], modelId: MODEL })))
  const direct = await countedLoad('the no-router baseline', s.n, (i) => client.send(operationOf(operation, i), requestBody(i)))
  progress.step = 'reading the simulator totals (baseline run)'
  const baselineUpstream = await upstreamTotals(bench)

  const router = summarise(viaRouterResults, deploymentIds(pool), down)
  const baseline = summarise(direct, Object.fromEntries(REGIONS.map((r) => [r, r])), down)
  const tolerance = binomialTolerance(s.n, s.clientFailureProbability, ALPHA)
  const floor = Math.ceil(s.floor * s.n)
  records.push({ name, router, baseline, tolerance, floor })
  const upstream = (u: { accepted: number; rejected: number }) => `${u.rejected}/${u.accepted + u.rejected} upstream attempts failed`
  const detail =
    `\n  ${describeRun('router:', router)}; ${upstream(routerUpstream)}` +
    `\n  ${describeRun('no-router baseline:', baseline)}; ${upstream(baselineUpstream)}` +
    `\n  tolerance ${tolerance} (P(an as-good router trails the baseline by more) ≤ ${ALPHA}), floor ${floor}/${s.n} (${s.floor * 100} %)`

  // Sanity first: the faults struck, and the baseline serves what the maths says a client serves, else the
  // comparison would prove nothing. P(baseline below the floor) = P(Binomial(n, q) > n − floor): tiny here.
  expect.soft(baselineUpstream.rejected, `${name}: the fault rules never struck${detail}`).toBeGreaterThan(0)
  expect.soft(baseline.malformed, `${name}: the baseline got malformed answers${detail}`).toEqual([])
  expect.soft(baseline.served, `${name}: the no-router baseline served less than the floor (P = ${binomialUpperTail(s.n, s.clientFailureProbability, s.n - floor).toExponential(1)} by chance)${detail}`).toBeGreaterThanOrEqual(floor)

  expect.soft(router.malformed, `${name}: every answer the router does not serve is a well-formed Bedrock error${detail}`).toEqual([])
  expect.soft(router.refusedWhileServable, `${name}: the router refused while a region it did not try could serve${detail}`).toBe(0)
  expect.soft(router.served, `${name}: router served ≥ no-router baseline − ${tolerance}${detail}`).toBeGreaterThanOrEqual(baseline.served - tolerance)
  expect.soft(router.served, `${name}: router served ≥ floor ${s.floor * 100} %${detail}`).toBeGreaterThanOrEqual(floor)
}

/** Rounds of CONCURRENCY requests until one round is served whole; ms from `t0` to the start of that round. */
async function probeRecovery(send: (i: number) => Promise<RequestResult>, t0: number, results: RequestResult[]): Promise<number | null> {
  for (let round = 0; Date.now() - t0 < RECOVERY_PROBE_LIMIT_MS; round++) {
    const roundStart = Date.now()
    const batch = await runLoad(CONCURRENCY, CONCURRENCY, (i) => send(round * CONCURRENCY + i))
    results.push(...batch)
    if (batch.every((r) => r.outcome.kind === 'served')) return roundStart - t0
    await new Promise((r) => setTimeout(r, RECOVERY_PROBE_GAP_MS))
  }
  return null
}

/** (e): a storm everywhere, then none. `send` is the router or the baseline; the same steps for both. */
async function stormAndRecover(bench: Bench, seed: number, send: (i: number) => Promise<RequestResult>) {
  progress.step = 'installing the storm'
  await installRules(bench, seed, [{ fault: 'throttle', message: tag('storm') }])
  const storm = await countedLoad('the storm', STORM_REQUESTS, send)
  progress.step = 'ending the storm'
  await installRules(bench, seed, []) // the storm is over
  const t0 = Date.now()
  const probes: RequestResult[] = []
  progress.step = 'probing for recovery'
  const recoveredMs = await probeRecovery((i) => send(STORM_REQUESTS + i), t0, probes)
  const after = await countedLoad('after the storm', AFTER_STORM_REQUESTS, (i) => send(10_000 + i))
  return { storm, probes, recoveredMs, after }
}

async function stormCase(bench: Bench, name: string, pool: string, operation: Operation, seed: number) {
  const ids = deploymentIds(pool)
  const client = new NoRouterClient(REGIONS.map((region) => ({ region, endpoint: bench.endpoints[region], modelId: MODEL })))
  const r = await stormAndRecover(bench, seed, (i) => bench.router(pool, operation, i))
  const b = await stormAndRecover(bench, seed, (i) => client.send(operation, requestBody(i)))
  const everywhere = new Set<string>(REGIONS)
  const none = new Set<string>()
  const routerStorm = summarise(r.storm, ids, everywhere)
  const routerAfter = summarise([...r.probes, ...r.after], ids, none)
  const routerAfterBatch = summarise(r.after, ids, none)
  const baselineAfterBatch = summarise(b.after, Object.fromEntries(REGIONS.map((x) => [x, x])), none)
  records.push({ name, router: routerAfterBatch, baseline: baselineAfterBatch, tolerance: 0, floor: AFTER_STORM_REQUESTS, recoveryMs: { router: r.recoveredMs, baseline: b.recoveredMs } })
  const ms = (v: number | null) => (v === null ? `not within ${RECOVERY_PROBE_LIMIT_MS} ms` : `${v} ms`)
  const detail =
    `\n  during the storm: ${describeRun('router:', routerStorm)}` +
    `\n  recovery: router ${ms(r.recoveredMs)}, no-router baseline ${ms(b.recoveredMs)} (first round of ${CONCURRENCY} all served, from the end of the storm)` +
    `\n  after the storm (probes + batch): ${describeRun('router:', routerAfter)}` +
    `\n  batch of ${AFTER_STORM_REQUESTS} after recovery: ${describeRun('router:', routerAfterBatch)} | ${describeRun('no-router baseline:', baselineAfterBatch)}`

  expect.soft(b.storm.every((x) => x.outcome.kind !== 'served'), `${name}: the storm did not throttle everything${detail}`).toBe(true)
  expect.soft(b.recoveredMs, `${name}: the no-router baseline did not recover at once${detail}`).not.toBeNull()
  expect.soft(routerStorm.malformed, `${name}: every refusal during the storm is a well-formed Bedrock error${detail}`).toEqual([])
  expect.soft(routerAfter.malformed, `${name}: every answer after the storm is well formed${detail}`).toEqual([])
  expect.soft(r.recoveredMs, `${name}: the router is back to full service within ${RECOVERY_WITHIN_MS} ms of the storm's end${detail}`).not.toBeNull()
  expect.soft(r.recoveredMs ?? Infinity, `${name}: the router is back to full service within ${RECOVERY_WITHIN_MS} ms of the storm's end${detail}`).toBeLessThanOrEqual(RECOVERY_WITHIN_MS)
  // Nothing fails upstream any more, so a client serves every request (q = 0, tolerance 0).
  expect.soft(routerAfterBatch.served, `${name}: after recovery the router serves ≥ the no-router baseline${detail}`).toBeGreaterThanOrEqual(baselineAfterBatch.served)
  expect.soft(routerAfterBatch.refusedWhileServable, `${name}: no refusal after recovery${detail}`).toBe(0)
}

const caseSeed = (() => {
  let seed = 2026
  return () => ++seed
})()

describe('one router isolate', () => {
  let h: Harness
  let bench: Bench
  const poolName = (strategy: Strategy, operation: Operation, scenario: string) => `${strategy}-${operation}-${scenario}`

  beforeAll(async () => {
    // One pool per case, so routing state (breakers, windows, latency) of one case never leaks into another.
    h = await startHarness((endpoints) => {
      const pools: Record<string, unknown> = {}
      for (const strategy of STRATEGIES) {
        for (const operation of OPERATIONS) {
          for (const scenario of ['a', 'b', 'c', 'd', 'e']) {
            const name = poolName(strategy, operation, scenario)
            pools[name] = poolConfig(name, strategy, endpoints)
          }
        }
      }
      return { pools }
    })
    bench = {
      control: (path, body) => h.control(path, body),
      endpoints: h.simulator.endpoints,
      router: (pool, operation, i) => viaRouter(fetch, h.router.url, pool, operationOf(operation, i), i),
    }
  })
  afterAll(() => h?.close())

  for (const s of RANDOM_SCENARIOS) {
    describe(s.title, () => {
      for (const strategy of STRATEGIES) {
        for (const operation of OPERATIONS) {
          const name = `${s.key} · ${strategy} · ${operation}`
          it(`${strategy} · ${operation}: router served ≥ no-router baseline − tolerance, ≥ ${s.floor * 100} %, no refusal while a region could serve`, async () => {
            await withinCase(55_000, () => compare(bench, name, poolName(strategy, operation, s.key), operation, s, caseSeed()))
          }, 60_000)
        }
      }
    })
  }

  describe('the yardstick: a second no-router client in the router\'s place passes every assertion', () => {
    // Shows the assertions are reachable by anything as good as a client on its own (and checks the tolerance
    // maths): if one of these fails, the test is wrong, not the router.
    const asRouter = (pool: string): Bench => {
      const client = new NoRouterClient(REGIONS.map((region) => ({ region, endpoint: bench.endpoints[region], modelId: MODEL })))
      return {
        ...bench,
        async router(_pool, operation, i) {
          const r = await client.send(operationOf(operation, i), requestBody(i))
          return { ...r, tried: r.tried.map((region) => `${pool}-${SHORT[region]}`) }
        },
      }
    }
    for (const s of RANDOM_SCENARIOS) {
      it(`${s.title}: the yardstick serves ≥ the baseline − tolerance and ≥ ${s.floor * 100} %`, async () => {
        await withinCase(55_000, () => compare(asRouter('yardstick'), `${s.key} · yardstick`, 'yardstick', 'converse', s, caseSeed()))
      }, 60_000)
    }
    it('(e) storm: the yardstick is back at once', async () => {
      await withinCase(55_000, () => stormCase(asRouter('yardstick'), 'e · yardstick', 'yardstick', 'converse', caseSeed()))
    }, 60_000)
  })

  describe(`(e) a storm of 100 % throttles in every region (${STORM_REQUESTS} requests), then none`, () => {
    for (const strategy of STRATEGIES) {
      for (const operation of OPERATIONS) {
        it(`${strategy} · ${operation}: full service again within ${RECOVERY_WITHIN_MS} ms, then serves ≥ the no-router baseline`, async () => {
          await withinCase(55_000, () => stormCase(bench, `e · ${strategy} · ${operation}`, poolName(strategy, operation, 'e'), operation, caseSeed()))
        }, 60_000)
      }
    }
  })
})

describe('three router isolates sharing one Durable Object namespace', () => {
  const ISOLATES = 3
  let simulator: Simulator | undefined
  let router: RouterProcess | undefined
  let bench: Bench
  const SHARED_STRATEGIES: Strategy[] = ['weighted', 'rate-limit-aware']
  const poolName = (strategy: Strategy, scenario: string) => `shared-${strategy}-${scenario}`

  beforeAll(async () => {
    simulator = await startSimulator({ regions: [...REGIONS] })
    const endpoints = simulator.endpoints
    const pools: Record<string, unknown> = {}
    for (const strategy of SHARED_STRATEGIES) for (const key of ['a', 'b']) pools[poolName(strategy, key)] = poolConfig(poolName(strategy, key), strategy, endpoints)
    router = await startRouter({
      instances: ISOLATES,
      vars: { ROUTER_CONFIG: JSON.stringify({ pools }), ROUTER_API_KEYS: CLIENT_KEY, AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY },
    })
    const r = router
    const controlUrl = simulator.controlUrl
    bench = {
      async control(path, body) {
        const res = await fetch(`${controlUrl}${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
        return res.json()
      },
      endpoints,
      // Request i goes to isolate i mod 3: consecutive requests land on different isolates, which share state.
      router: (pool, operation, i) => viaRouter(r.instances[i % r.instances.length], 'http://router', pool, operationOf(operation, i), i),
    }
  })
  afterAll(async () => {
    await router?.close()
    await simulator?.close()
  })

  for (const s of RANDOM_SCENARIOS.filter((x) => x.key === 'a' || x.key === 'b')) {
    for (const strategy of SHARED_STRATEGIES) {
      it(`${s.title} · ${strategy} · Converse and ConverseStream over ${ISOLATES} isolates: router served ≥ no-router baseline − tolerance, ≥ ${s.floor * 100} %`, async () => {
        await withinCase(110_000, () => compare(bench, `${s.key} · ${strategy} · ${ISOLATES} isolates`, poolName(strategy, s.key), 'mixed', s, caseSeed()))
      }, 120_000)
    }
  }
})

afterAll(() => {
  const pct = (k: number, n: number) => `${((100 * k) / Math.max(1, n)).toFixed(1)}%`
  const lines = records.map((c) => {
    const refusals = Object.entries(c.router.byOrigin)
      .filter(([k]) => k !== 'upstream')
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')
    const rec = c.recoveryMs ? ` recovery router=${c.recoveryMs.router ?? 'none'}ms baseline=${c.recoveryMs.baseline ?? 'none'}ms` : ''
    return `${c.name.padEnd(40)} router ${pct(c.router.served, c.router.n).padStart(6)} (${c.router.served}/${c.router.n})  baseline ${pct(c.baseline.served, c.baseline.n).padStart(6)}  attempts ${c.router.attemptsMean.toFixed(2)}  ${refusals}${rec}`
  })
  console.log(`noise: router vs no-router baseline\n${lines.join('\n')}`)
  if (process.env.NOISE_REPORT) writeFileSync(process.env.NOISE_REPORT, JSON.stringify(records, null, 2))
})
