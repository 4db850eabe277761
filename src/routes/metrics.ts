/**
 * GET /metrics (admin): Prometheus text exposition for teams that scrape. Three kinds of figures:
 * - this isolate's counters since it started (`bedrock_router_*_total`, and a latency histogram) — true counters, so
 *   `rate()` works; each isolate answers for itself, as a scrape of one Workers isolate or Deno instance does;
 * - the shared accounting of the current UTC day, across every isolate (`bedrock_router_global_*_today`, gauges that
 *   reset at midnight UTC);
 * - each deployment's state now (usable, breaker, window use) from the shared routing state.
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'
import { checkEnvironment } from '../config/problems'
import type { DeploymentSnapshot } from '../routing/types'
import { aggregate } from '../stats/rollup'
import { adminAuth } from './admin-auth'

export const metricsRoutes = new Hono<AppEnv>()

/** Histogram bounds, ms (the log-scale histogram's buckets are folded into these). */
const LE = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000]
const BASE = 2 ** 0.25

metricsRoutes.get('/metrics', adminAuth, async (c) => {
  const out = new Metrics()
  const recorder = c.get('stats')
  const store = c.get('store')
  out.gauge('bedrock_router_isolate_start_time_seconds', 'When this isolate started accounting.', [[{}, recorder.startedAt / 1000]])

  const isolate = [...recorder.isolate.values()]
  const requests = isolate.filter((x) => x.outcome !== 'abandoned')
  out.counter('bedrock_router_requests_total', 'Requests this isolate finished, by pool, serving deployment and outcome.', requests.map((x) => [{ pool: x.pool, deployment: x.deployment, outcome: x.outcome }, x.c.requests]))
  out.counter('bedrock_router_failovers_total', 'Attempts abandoned for another deployment, by the deployment that failed them.', isolate.filter((x) => x.c.failovers).map((x) => [{ pool: x.pool, deployment: x.deployment }, x.c.failovers]))
  out.counter('bedrock_router_upstream_throttles_total', 'Throttles from Bedrock, by the deployment that threw them.', isolate.filter((x) => x.c.upstreamThrottles).map((x) => [{ pool: x.pool, deployment: x.deployment }, x.c.upstreamThrottles]))
  const tokenKinds = [['input', 'inputTokens'], ['output', 'outputTokens'], ['cache_read', 'cacheReadTokens'], ['cache_write', 'cacheWriteTokens']] as const
  out.counter('bedrock_router_tokens_total', 'Tokens used, by kind.', requests.flatMap((x) => tokenKinds.map(([kind, k]) => [{ pool: x.pool, deployment: x.deployment, kind }, x.c[k]] as Sample)).filter((s) => s[1] > 0))
  out.counter('bedrock_router_cost_usd_total', 'What the requests cost, USD.', requests.filter((x) => x.c.costUsd).map((x) => [{ pool: x.pool, deployment: x.deployment }, x.c.costUsd]))
  out.histogram('bedrock_router_request_duration_ms', 'Request duration, ms.', requests.map((x) => [{ pool: x.pool, deployment: x.deployment }, x.c.latency]))
  const calls = store.counters?.() ?? {}
  out.counter('bedrock_router_state_calls_total', 'Calls this isolate made to the shared state, by kind (acquire, report, lease), and its routing decisions by where they were made (leaseDecisions: within a slice, no call; objectDecisions: asked the object).', Object.entries(calls).map(([kind, n]) => [{ kind }, n]))
  out.histogram('bedrock_router_overhead_ms', 'Time the router itself added per request, ms.', requests.map((x) => [{ pool: x.pool, deployment: x.deployment }, x.c.overhead]))

  const now = Date.now()
  const dayStart = Math.floor(now / 86_400_000) * 86_400_000
  const pools = Object.values(checkEnvironment(c.env ?? {}).loaded?.config.pools ?? {})
  const [today, snapshots] = await Promise.all([
    store.readStats(dayStart, now + 1).catch(() => undefined),
    Promise.all(pools.map((p) => store.snapshot(p).catch(() => undefined) as Promise<DeploymentSnapshot[] | undefined>)),
  ])
  if (today) {
    const query = { from: dayStart, to: now + 1, bucket: 'total' as const }
    const byDeployment = aggregate(today.rows, { ...query, by: ['pool', 'deployment', 'outcome'] }).filter((g) => g.keys.outcome !== 'abandoned')
    out.gauge('bedrock_router_global_requests_today', 'Requests today (UTC), every isolate.', byDeployment.map((g) => [{ pool: g.keys.pool!, deployment: g.keys.deployment!, outcome: g.keys.outcome! }, g.requests]))
    const byClient = aggregate(today.rows, { ...query, by: ['client'] })
    out.gauge('bedrock_router_global_cost_usd_today', 'Cost today (UTC), USD, every isolate, by client.', byClient.map((g) => [{ client: g.keys.client! }, g.costUsd]))
    out.gauge('bedrock_router_global_tokens_today', 'Tokens today (UTC), every isolate, by client.', byClient.map((g) => [{ client: g.keys.client! }, g.tokens.input + g.tokens.output + g.tokens.cacheRead + g.tokens.cacheWrite]))
  }
  const states = pools.flatMap((p, i) => (Array.isArray(snapshots[i]) ? snapshots[i]!.map((d) => ({ pool: p.name, d })) : []))
  out.gauge('bedrock_router_deployment_usable', '1 if the deployment can take a request now.', states.map(({ pool, d }) => [{ pool, deployment: d.id }, d.usable ? 1 : 0]))
  out.gauge('bedrock_router_deployment_breaker_open', '1 while the breaker ejects the deployment (open or half-open).', states.map(({ pool, d }) => [{ pool, deployment: d.id }, d.breaker === 'closed' ? 0 : 1]))
  out.gauge('bedrock_router_deployment_window_requests', 'Requests in the deployment\'s sliding 60 s window.', states.map(({ pool, d }) => [{ pool, deployment: d.id }, d.window.requests]))
  out.gauge('bedrock_router_deployment_window_tokens', 'Tokens in the deployment\'s sliding 60 s window.', states.map(({ pool, d }) => [{ pool, deployment: d.id }, d.window.tokens]))
  return c.body(out.text(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' })
})

type Labels = Record<string, string>
type Sample = [Labels, number]

class Metrics {
  private readonly lines: string[] = []

  counter(name: string, help: string, samples: Sample[]) {
    this.family(name, help, 'counter', samples)
  }

  gauge(name: string, help: string, samples: Sample[]) {
    this.family(name, help, 'gauge', samples)
  }

  /** A log-scale histogram (stats/histogram.ts) as cumulative Prometheus buckets (a bucket counts under the first bound ≥ its top). */
  histogram(name: string, help: string, series: Array<[Labels, Record<string, number>]>) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`)
    for (const [labels, h] of series) {
      const counts = new Array(LE.length + 1).fill(0)
      let total = 0
      for (const [i, n] of Object.entries(h)) {
        const top = Number(i) === 0 ? 1 : BASE ** Number(i)
        const slot = LE.findIndex((le) => top <= le * (1 + 1e-9))
        counts[slot < 0 ? LE.length : slot] += n
        total += n
      }
      let cumulative = 0
      LE.forEach((le, k) => {
        cumulative += counts[k]
        this.lines.push(`${name}_bucket${render({ ...labels, le: String(le) })} ${cumulative}`)
      })
      this.lines.push(`${name}_bucket${render({ ...labels, le: '+Inf' })} ${total}`, `${name}_count${render(labels)} ${total}`)
    }
  }

  text(): string {
    return this.lines.join('\n') + '\n'
  }

  private family(name: string, help: string, type: string, samples: Sample[]) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) this.lines.push(`${name}${render(labels)} ${Number.isFinite(value) ? value : 0}`)
  }
}

function render(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}
