/** Small statistics helpers for the benchmarks. */

/** Nearest-rank percentile of an ascending-sorted array (p in 0..1). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil(p * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

export function sum(values: readonly number[]): number {
  let s = 0
  for (const v of values) s += v
  return s
}

/** Formats a number with a fixed number of decimals; NaN/undefined → "–". */
export function fmt(value: number | null | undefined, decimals = 2): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–'
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

export function pct(value: number | null | undefined, decimals = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–'
  return `${fmt(value * 100, decimals)} %`
}

/** "min–max" of a list, formatted, to show the spread behind a median. */
export function spread(values: readonly number[], decimals = 2): string {
  const v = values.filter((x) => Number.isFinite(x))
  if (v.length === 0) return '–'
  return `${fmt(Math.min(...v), decimals)}–${fmt(Math.max(...v), decimals)}`
}
