/**
 * A small closed-loop HTTP load generator on node:http: keep-alive agent, fixed concurrency, fixed request count
 * after a warm-up, and a time cap (no new request starts after `maxMs`). Loopback only.
 * Per request it records total latency (until the body has ended) and time to the first body byte.
 */
import http from 'node:http'

export interface LoadTarget {
  /** Full URL (http://127.0.0.1:port/path). */
  url: string
  headers: Record<string, string>
  body: string
  /** Response header to collect per request (e.g. x-router-overhead-ms). */
  collectHeader?: string
  /** Called on the first completed request's status/body, to check the target answers correctly. */
  expectStatus?: number
}

export interface LoadOptions {
  concurrency: number
  requests: number
  warmup: number
  /** Stop starting requests after this long (ms), warm-up excluded (the warm-up gets a third of it). */
  maxMs: number
}

export interface LoadResult {
  /** Total latency per successful request, ms, ascending. */
  latencies: number[]
  /** Time to the first body byte per successful request, ms, ascending. */
  firstByte: number[]
  /** Values of `collectHeader`, as numbers. */
  header: number[]
  completed: number
  errors: number
  statuses: Record<number, number>
  elapsedMs: number
  /** Completed requests per second over the measured phase. */
  rps: number
  /** The measured phase hit the time cap before `requests`. */
  capped: boolean
  firstError?: string
}

interface One {
  ms: number
  firstByteMs: number
  status: number
  header?: string
  body?: string
}

/** Keeps the body when `keepBody`, or when the status is not `expect` (for the error message). */
function oneRequest(agent: http.Agent, target: LoadTarget, u: URL, keepBody: boolean, expect = 200): Promise<One> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request(
      { agent, host: u.hostname, port: u.port || 80, path: u.pathname + u.search, method: 'POST', headers: target.headers },
      (res) => {
        let first = -1
        const chunks: Buffer[] = []
        const keep = keepBody || res.statusCode !== expect
        res.on('data', (c: Buffer) => {
          if (first < 0) first = performance.now() - t0
          if (keep) chunks.push(c)
        })
        res.on('end', () => {
          const ms = performance.now() - t0
          resolve({
            ms,
            firstByteMs: first < 0 ? ms : first,
            status: res.statusCode ?? 0,
            header: target.collectHeader ? (res.headers[target.collectHeader] as string | undefined) : undefined,
            body: keep ? Buffer.concat(chunks).toString('utf8') : undefined,
          })
        })
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(target.body)
  })
}

/** One request, returning status and body text (to check a target before loading it). */
export async function probe(target: LoadTarget): Promise<{ status: number; body: string }> {
  const agent = new http.Agent({ keepAlive: false })
  try {
    const r = await oneRequest(agent, target, new URL(target.url), true)
    return { status: r.status, body: r.body ?? '' }
  } finally {
    agent.destroy()
  }
}

export async function runLoad(target: LoadTarget, opts: LoadOptions): Promise<LoadResult> {
  const u = new URL(target.url)
  if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') throw new Error(`loopback only: ${target.url}`)
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency, maxFreeSockets: opts.concurrency, keepAliveMsecs: 1000 })
  const expect = target.expectStatus ?? 200
  const result: LoadResult = { latencies: [], firstByte: [], header: [], completed: 0, errors: 0, statuses: {}, elapsedMs: 0, rps: 0, capped: false }
  try {
    // Warm-up at the same concurrency: connections opened, JIT warm, caches filled.
    let warm = 0
    const warmUntil = performance.now() + opts.maxMs / 3
    await Promise.all(
      Array.from({ length: Math.min(opts.concurrency, Math.max(1, opts.warmup)) }, async () => {
        while (warm < opts.warmup && performance.now() < warmUntil) {
          warm++
          try {
            await oneRequest(agent, target, u, false)
          } catch {
            // counted in the measured phase only
          }
        }
      }),
    )
    let started = 0
    const t0 = performance.now()
    const deadline = t0 + opts.maxMs
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (started < opts.requests) {
          if (performance.now() > deadline) {
            result.capped = true
            return
          }
          started++
          try {
            const r = await oneRequest(agent, target, u, false, expect)
            result.statuses[r.status] = (result.statuses[r.status] ?? 0) + 1
            if (r.status === expect) {
              result.completed++
              result.latencies.push(r.ms)
              result.firstByte.push(r.firstByteMs)
              if (r.header !== undefined) result.header.push(Number(r.header))
            } else {
              result.errors++
              result.firstError ??= `HTTP ${r.status} ${r.body?.slice(0, 300) ?? ''}`
            }
          } catch (e) {
            result.errors++
            result.firstError ??= e instanceof Error ? e.message : String(e)
          }
        }
      }),
    )
    result.elapsedMs = performance.now() - t0
    result.rps = (result.completed * 1000) / result.elapsedMs
    result.latencies.sort((a, b) => a - b)
    result.firstByte.sort((a, b) => a - b)
    return result
  } finally {
    agent.destroy()
  }
}
