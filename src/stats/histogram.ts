/**
 * A latency histogram on a log scale: bucket i counts values in (BASE^(i-1), BASE^i] ms (bucket 0: up to 1 ms), so any
 * quantile is known within ±9 % whatever the range, histograms from any isolate or hour merge by adding counts, and
 * one holds at most ~85 buckets up to 15 minutes. Plain JSON (index → count).
 */
export type Histogram = Record<string, number>

const BASE = 2 ** 0.25
const LOG_BASE = Math.log(BASE)
/** BASE^MAX_INDEX ≈ 15 minutes: anything longer shares the last bucket. */
const MAX_INDEX = 80

function indexOf(ms: number): number {
  if (!(ms > 1)) return 0
  return Math.min(MAX_INDEX, Math.ceil(Math.log(ms) / LOG_BASE - 1e-9))
}

export function observe(h: Histogram, ms: number): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return
  const i = indexOf(ms)
  h[i] = (h[i] ?? 0) + 1
}

export function mergeHistogram(into: Histogram, from: Histogram): void {
  for (const i in from) {
    const n = from[i]
    if (typeof n === 'number' && n > 0) into[i] = (into[i] ?? 0) + n
  }
}

export function countOf(h: Histogram): number {
  let n = 0
  for (const v of Object.values(h)) n += v
  return n
}

/** The q-quantile (0..1), as the geometric middle of its bucket, rounded to 0.1 ms; null when empty. */
export function quantile(h: Histogram, q: number): number | null {
  const entries = Object.entries(h)
    .map(([i, n]) => [Number(i), n] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => a[0] - b[0])
  const total = entries.reduce((s, [, n]) => s + n, 0)
  if (total === 0) return null
  const rank = Math.max(1, Math.ceil(q * total))
  let seen = 0
  for (const [i, n] of entries) {
    seen += n
    if (seen >= rank) return i === 0 ? 1 : Math.round(BASE ** (i - 0.5) * 10) / 10
  }
  return null
}
