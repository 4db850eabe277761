/**
 * The cache key of a request: SHA-256 over its pool, operation and canonical body (object keys sorted, so the same
 * request written in another key order hits too), and — unless the pool shares its cache between clients — who asked.
 */
export async function cacheKey(parts: { pool: string; operation: string; body: unknown; scope?: string }): Promise<string> {
  const text = canonical([parts.pool, parts.operation, parts.scope ?? '', parts.body])
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  let hex = ''
  for (const b of digest) hex += b.toString(16).padStart(2, '0')
  return hex
}

export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}
