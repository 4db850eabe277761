/**
 * GET /stats (admin): what the traffic did and cost — successes, throttles (upstream and router-made), failovers,
 * fail-fast errors, latency / time-to-first-token / router-overhead percentiles, tokens and cost — overall and grouped
 * by any of pool, deployment, model, client, frontDoor, tag, outcome; per hour, per UTC day or over the period; as
 * JSON, or CSV for spreadsheets. Read from the shared accounting (state/types.ts), which isolates feed in batches:
 * a request shows up within about a second (ROUTER_STATS_FLUSH_MS) of its end.
 *
 *   /stats?since=24h&by=model,client            /stats?from=2026-12-01&to=2026-12-02&bucket=hour&format=csv
 *   /stats?since=7d&by=tag&client=team-a        (a dimension's name as a parameter filters on it)
 *   /stats?since=24h&experiment=lat-vs-cost     (the experiment's arms compared, 95 % intervals: stats/compare.ts)
 */
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../app'
import { validConfig } from '../config/load'
import { compareArms } from '../stats/compare'
import { aggregate, aggregateCounters, DIMENSIONS, emptyCounters, summarize, toCsv, type Dimension, type StatsQuery } from '../stats/rollup'
import { STATS_RETENTION_MS } from '../stats/ledger'
import { adminAuth, adminError } from './admin-auth'

export const statsRoutes = new Hono<AppEnv>()

statsRoutes.get('/stats', adminAuth, async (c) => {
  const parsed = parseStatsQuery(new URL(c.req.url).searchParams, Date.now())
  if (!parsed.ok) return adminError(400, parsed.message)
  const { query, csv } = parsed
  let read
  try {
    read = await c.get('store').readStats(query.from, query.to)
  } catch (e) {
    return adminError(503, `The shared accounting is unavailable: ${e instanceof Error ? e.message : String(e)}`)
  }
  const groups = aggregate(read.rows, query)
  const headers = { 'cache-control': 'no-store' }
  if (csv || (c.req.header('accept') ?? '').includes('text/csv')) {
    return c.body(toCsv(groups, query.by, query.bucket !== 'total'), 200, { ...headers, 'content-type': 'text/csv; charset=utf-8' })
  }
  const [total] = aggregate(read.rows, { ...query, by: [], bucket: 'total' })
  const experiment = new URL(c.req.url).searchParams.get('experiment')
  let comparison: ReturnType<typeof compareArms> | undefined
  if (experiment) {
    const config = validConfig(c.env?.ROUTER_CONFIG)?.config
    const owner = Object.values(config?.pools ?? {}).find((p) => p.experiment?.name === experiment)
    if (!owner?.experiment) return adminError(400, `No pool runs an experiment named "${experiment}".`)
    const groups = aggregateCounters(read.rows, { ...query, by: ['arm'], bucket: 'total' })
    comparison = compareArms(
      owner.experiment.arms.map((a) => {
        const arm = `${experiment}/${a.name}`
        return { arm, c: groups.find((g) => g.keys.arm === arm)?.c ?? emptyCounters() }
      }),
    )
  }
  return c.json(
    {
      from: new Date(query.from).toISOString(),
      to: new Date(query.to).toISOString(),
      bucket: query.bucket,
      by: query.by,
      where: query.where,
      total: total ?? { keys: {}, ...summarize(emptyCounters()) },
      groups,
      ...(comparison ? { experiment, comparison } : {}),
      recentFailovers: read.failovers.slice(-50).reverse(),
    },
    200,
    headers,
  )
})

const DURATION = /^(\d+(?:\.\d+)?)(m|h|d)$/
const UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const

/** A time given as epoch ms or an ISO date. */
function timeOf(v: string): number | undefined {
  const t = /^\d{10,}$/.test(v) ? Number(v) : Date.parse(v)
  return Number.isFinite(t) ? t : undefined
}

export function parseStatsQuery(params: URLSearchParams, now: number): { ok: true; query: StatsQuery; csv: boolean } | { ok: false; message: string } {
  const to = params.has('to') ? timeOf(params.get('to')!) : now
  if (to === undefined) return { ok: false, message: 'to must be an ISO date or epoch milliseconds.' }
  let from: number | undefined
  if (params.has('from')) {
    from = timeOf(params.get('from')!)
    if (from === undefined) return { ok: false, message: 'from must be an ISO date or epoch milliseconds.' }
  } else {
    const since = DURATION.exec(params.get('since') ?? '24h')
    if (!since) return { ok: false, message: 'since must be a duration such as 15m, 24h or 7d.' }
    from = to - Number(since[1]) * UNIT[since[2] as keyof typeof UNIT]
  }
  if (from >= to) return { ok: false, message: 'from must be before to.' }
  if (to - from > STATS_RETENTION_MS) return { ok: false, message: `The period may span at most ${STATS_RETENTION_MS / 86_400_000} days (what is kept).` }
  const by = (params.get('by') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  const unknown = by.find((d) => !(DIMENSIONS as readonly string[]).includes(d))
  if (unknown) return { ok: false, message: `by may list ${DIMENSIONS.join(', ')} (not "${unknown}").` }
  const bucket = params.get('bucket') ?? 'total'
  if (bucket !== 'hour' && bucket !== 'day' && bucket !== 'total') return { ok: false, message: 'bucket must be hour, day or total.' }
  const format = params.get('format') ?? 'json'
  if (format !== 'json' && format !== 'csv') return { ok: false, message: 'format must be json or csv.' }
  const where: Partial<Record<Dimension, string>> = {}
  for (const d of DIMENSIONS) if (params.has(d)) where[d] = params.get(d)!
  return { ok: true, query: { from, to, by: [...new Set(by)] as Dimension[], bucket, ...(Object.keys(where).length ? { where } : {}) }, csv: format === 'csv' }
}
