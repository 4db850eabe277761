import { describe, expect, it } from 'vitest'
import { quantile, observe, type Histogram } from './histogram'
import { StatsLedger } from './ledger'
import { addRow, aggregate, HOUR_MS, rowsOf, toCsv, type RequestEvent, type StatsRow } from './rollup'

const T0 = Date.UTC(2026, 11, 1, 10, 30)
const event = (extra: Partial<RequestEvent> = {}): RequestEvent => ({
  at: T0,
  pool: 'p',
  deployment: 'a',
  model: 'm',
  client: 'c1',
  frontDoor: 'bedrock',
  tags: [],
  outcome: 'success',
  abandoned: [],
  failFast: false,
  latencyMs: 100,
  usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 2 },
  costUsd: 0.001,
  ...extra,
})

describe('histogram', () => {
  it('quantiles within ±10 % on a log scale, whatever the range', () => {
    const h: Histogram = {}
    for (let ms = 1; ms <= 1000; ms++) observe(h, ms)
    for (const [q, exact] of [[0.5, 500], [0.95, 950], [0.99, 990]] as const) {
      expect(Math.abs(quantile(h, q)! - exact) / exact).toBeLessThan(0.1)
    }
    expect(quantile({}, 0.5)).toBeNull()
    observe(h, Number.NaN) // ignored
    observe(h, -1)
    expect(Object.values(h).reduce((a, b) => a + b)).toBe(1000)
  })
})

describe('rollup', () => {
  it('a request is one row; each abandoned attempt a row of its own deployment, not a request', () => {
    const rows = rowsOf(event({ abandoned: [{ deployment: 'b', model: 'm', class: 'throttled' }, { deployment: 'c', model: 'm', class: 'unavailable' }] }))
    expect(rows.map((r) => [r.deployment, r.outcome, r.c.requests, r.c.failovers, r.c.upstreamThrottles])).toEqual([
      ['a', 'success', 1, 0, 0],
      ['b', 'abandoned', 0, 1, 1],
      ['c', 'abandoned', 0, 1, 0],
    ])
    const [total] = aggregate(rows, { from: T0 - HOUR_MS, to: T0 + HOUR_MS, by: [], bucket: 'total' })
    expect(total).toMatchObject({ requests: 1, successes: 1, failovers: 2, throttles: { upstream: 1, router: 0 }, tokens: { input: 10, output: 5, cacheRead: 2, cacheWrite: 0 }, costUsd: 0.001 })
  })

  it('merges by adding, groups by any dimension (tags explode), buckets by hour and day, and filters', () => {
    const ledger = new StatsLedger()
    const rows: StatsRow[] = [
      ...rowsOf(event({ tags: ['team=x', 'env=prod'] })),
      ...rowsOf(event({ client: 'c2', costUsd: 0.002, tags: ['team=x'] })),
      ...rowsOf(event({ at: T0 + HOUR_MS, outcome: 'throttled', deployment: undefined, usage: undefined, costUsd: undefined })),
    ]
    ledger.add({ rows, failovers: [] }, T0)
    ledger.add({ rows: rowsOf(event({ tags: ['env=prod', 'team=x'] })), failovers: [] }, T0) // the same combination again: merged
    expect(ledger.size).toBe(3)
    const { rows: held } = ledger.read(T0 - HOUR_MS, T0 + 2 * HOUR_MS)
    const byClient = aggregate(held, { from: 0, to: T0 + 2 * HOUR_MS, by: ['client'], bucket: 'total' })
    expect(byClient.map((g) => [g.keys.client, g.requests, g.costUsd])).toEqual([
      ['c1', 3, 0.002],
      ['c2', 1, 0.002],
    ])
    const byTag = aggregate(held, { from: 0, to: T0 + 2 * HOUR_MS, by: ['tag'], bucket: 'total' })
    expect(Object.fromEntries(byTag.map((g) => [g.keys.tag, g.requests]))).toEqual({ 'team=x': 3, 'env=prod': 2, '(none)': 1 })
    const hourly = aggregate(held, { from: 0, to: T0 + 2 * HOUR_MS, by: [], bucket: 'hour' })
    expect(hourly.map((g) => [g.period, g.requests, g.throttles.router])).toEqual([
      [new Date(Math.floor(T0 / HOUR_MS) * HOUR_MS).toISOString(), 3, 0],
      [new Date(Math.floor(T0 / HOUR_MS) * HOUR_MS + HOUR_MS).toISOString(), 1, 1],
    ])
    expect(aggregate(held, { from: 0, to: T0 + 2 * HOUR_MS, by: [], bucket: 'day' })).toHaveLength(1)
    expect(aggregate(held, { from: 0, to: T0 + 2 * HOUR_MS, by: [], bucket: 'total', where: { client: 'c2' } })[0].requests).toBe(1)
    // The period selects whole hours it overlaps.
    expect(aggregate(held, { from: T0 + HOUR_MS, to: T0 + 2 * HOUR_MS, by: [], bucket: 'total' })[0].requests).toBe(1)
  })

  it('bounded: beyond the cap new combinations fold their client and tags into (other), totals intact', () => {
    const rows = new Map<string, StatsRow>()
    for (let i = 0; i < 10; i++) for (const r of rowsOf(event({ client: `c${i}` }))) addRow(rows, r, 4)
    expect(rows.size).toBe(5)
    const [total] = aggregate(rows.values(), { from: 0, to: T0 + HOUR_MS, by: [], bucket: 'total' })
    expect(total.requests).toBe(10)
    expect([...rows.values()].filter((r) => r.client === '(other)')[0].c.requests).toBe(6)
  })

  it('CSV: quoted where needed, formulas neutralised', () => {
    const groups = aggregate(rowsOf(event({ client: '=HYPERLINK("x")' })), { from: 0, to: T0 + HOUR_MS, by: ['client'], bucket: 'total' })
    const csv = toCsv(groups, ['client'], false)
    expect(csv.split('\r\n')[1]).toMatch(/^"'=HYPERLINK\(""x""\)",1,1,/)
  })
})
