/**
 * The soak's load: `requests` requests, `concurrency` at a time, dealt round-robin over every front door (bench/lib/
 * doors.ts), against a router whose upstream (the simulator) faults at random — throttles, 5xx, resets, stalls, cuts,
 * broken bodies. Every request must end in an answer or a clean error in its door's shape: none malformed, none hung
 * (each has a client deadline). Used by the soak benchmark (bench/soak.ts) and its short test (test/node/soak.test.ts).
 */
import { clientKey, DOORS, type Seen } from './doors'

/** Random faults below any quota, for every region and model. */
export const SOAK_FAULTS = [
  { fault: 'throttle', probability: 0.04 },
  { fault: 'error', status: 503, errorType: 'ServiceUnavailableException', probability: 0.02 },
  { fault: 'error', status: 500, errorType: 'InternalServerException', probability: 0.01 },
  { fault: 'reset', probability: 0.01 },
  { fault: 'garbage', probability: 0.005 },
  { fault: 'stall', ms: 1500, probability: 0.005 },
  { fault: 'cut', afterFrames: 3, probability: 0.02 },
  { fault: 'exception', afterFrames: 2, exceptionType: 'modelStreamErrorException', probability: 0.01 },
]

export const SOAK_MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'

/** A pool over three regions with the router's defaults, except a shorter time to first byte (stalls fail over). */
export function soakPool(endpoints: Record<string, string>) {
  return {
    ttfbTimeoutMs: 1000,
    attemptTimeoutMs: 5000,
    deployments: Object.entries(endpoints).map(([region, endpoint]) => ({ id: `soak-${region}`, modelId: SOAK_MODEL, region, endpoint })),
  }
}

export interface SoakTally {
  requests: number
  served: number
  errors: number
  malformed: number
  /** No complete answer within the client's deadline. */
  hung: number
  byDoor: Record<string, { served: number; errors: number; malformed: number; hung: number }>
  /** How errors were told (`503 ServiceUnavailableException`, `exception frame modelStreamErrorException`, …). */
  errorKinds: Record<string, number>
  /** Up to 10 malformed answers, for the failure message. */
  malformedSamples: string[]
  durationMs: number
}

/** Runs the load; `progress(done)` is called after every request (memory sampling hooks onto it). */
export async function soakLoad(opts: { url: string; pool: string; key: string; requests: number; concurrency: number; deadlineMs?: number; progress?: (done: number) => void }): Promise<SoakTally> {
  clientKey.value = opts.key
  clientKey.timeoutMs = opts.deadlineMs ?? 20_000
  const t: SoakTally = { requests: 0, served: 0, errors: 0, malformed: 0, hung: 0, byDoor: {}, errorKinds: {}, malformedSamples: [], durationMs: 0 }
  for (const d of DOORS) t.byDoor[d.name] = { served: 0, errors: 0, malformed: 0, hung: 0 }
  const started = Date.now()
  let next = 0
  const one = async (i: number) => {
    const door = DOORS[i % DOORS.length]
    let seen: Seen | 'hung'
    try {
      seen = await door.read(await door.send(opts.url, opts.pool))
    } catch (e) {
      const name = e instanceof Error ? e.name : ''
      seen = name === 'TimeoutError' || name === 'AbortError' ? 'hung' : { kind: 'malformed', detail: `the request failed: ${e instanceof Error ? e.message : String(e)}` }
    }
    t.requests++
    const mine = t.byDoor[door.name]
    if (seen === 'hung') {
      t.hung++
      mine.hung++
    } else if (seen.kind === 'served') {
      t.served++
      mine.served++
    } else if (seen.kind === 'error') {
      t.errors++
      mine.errors++
      t.errorKinds[seen.how] = (t.errorKinds[seen.how] ?? 0) + 1
    } else {
      t.malformed++
      mine.malformed++
      if (t.malformedSamples.length < 10) t.malformedSamples.push(`${door.name}: ${seen.detail}`)
    }
    opts.progress?.(t.requests)
  }
  await Promise.all(
    Array.from({ length: Math.min(opts.concurrency, opts.requests) }, async () => {
      for (let i = next++; i < opts.requests; i = next++) await one(i)
    }),
  )
  t.durationMs = Date.now() - started
  return t
}

/** The pool's state after the load, through /health/deployments: breaker probes or queued reservations left over. */
export async function leftInFlight(url: string, adminKey: string, pool: string): Promise<{ probes: number; queued: number }> {
  const res = await fetch(`${url}/health/deployments`, { headers: { authorization: `Bearer ${adminKey}` } })
  const body = (await res.json()) as { deployments: Array<{ pool: string; probesInFlight: number; window: { queuedRequests: number } }> }
  const mine = body.deployments.filter((d) => d.pool === pool)
  return { probes: mine.reduce((n, d) => n + d.probesInFlight, 0), queued: mine.reduce((n, d) => n + d.window.queuedRequests, 0) }
}
