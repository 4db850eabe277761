/**
 * Helpers for the noise tests (test/node/noise.test.ts): read one answer into a served / error / malformed
 * outcome, tell router-made refusals from relayed upstream errors, run a bounded concurrent load, summarise a
 * run, and the binomial tolerance used to compare the router with the no-router baseline.
 */
import { SseParser } from '../support/sse-parser'
import { EventStreamFramer, type Frame } from '../../src/wire/eventstream'

export type Operation = 'converse' | 'converse-stream'
/** How the answer is framed: Converse JSON, Bedrock's binary event stream, or the router's SSE rendering. */
export type Format = 'json' | 'binary' | 'sse'

export type Outcome =
  | { kind: 'served' }
  /** A well-formed error: HTTP error with `x-amzn-errortype` and `{"message"}`, an exception frame, or `event: error`. */
  | { kind: 'error'; status: number; errorType: string; message: string; via: 'http' | 'exception-frame' | 'sse-error' }
  /** Anything else: a silent truncation, an error without its type or message, a body that does not parse. */
  | { kind: 'malformed'; detail: string }

/** One request as a client saw it, through the router or not. */
export interface RequestResult {
  outcome: Outcome
  /** Upstream attempts: `x-router-attempts` through the router, requests sent by the baseline client. */
  attempts: number
  /** Deployments (router: ids from `x-router-failovers` + `x-router-deployment`) or regions (baseline) tried. */
  tried: string[]
  /** When the request was sent, ms since the epoch. */
  startedAt: number
}

const decoder = new TextDecoder()

function jsonOrUndefined(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Reads the whole answer (the body is always consumed) and says what the client got. */
export async function readOutcome(res: Response, format: Format): Promise<Outcome> {
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await res.arrayBuffer())
  } catch (e) {
    return { kind: 'malformed', detail: `status ${res.status}: the body broke off (${e instanceof Error ? e.message : String(e)})` }
  }
  const text = () => decoder.decode(bytes)
  if (res.status !== 200) {
    const errorType = res.headers.get('x-amzn-errortype')?.split(':')[0]
    const body = jsonOrUndefined(text())
    if (!errorType) return { kind: 'malformed', detail: `status ${res.status} without x-amzn-errortype: ${text().slice(0, 200)}` }
    if (typeof body?.message !== 'string') return { kind: 'malformed', detail: `status ${res.status} ${errorType} without a JSON message: ${text().slice(0, 200)}` }
    return { kind: 'error', status: res.status, errorType, message: body.message, via: 'http' }
  }
  if (format === 'json') {
    const body = jsonOrUndefined(text())
    if (typeof body?.output?.message?.content?.[0]?.text === 'string' && typeof body.stopReason === 'string') return { kind: 'served' }
    return { kind: 'malformed', detail: `200 Converse without an answer: ${text().slice(0, 200)}` }
  }
  if (format === 'binary') {
    const framer = new EventStreamFramer()
    let frames: Frame[]
    try {
      frames = framer.push(bytes)
      framer.end()
    } catch (e) {
      return { kind: 'malformed', detail: `binary stream does not frame: ${e instanceof Error ? e.message : String(e)}` }
    }
    const failure = frames.findIndex((f) => f.messageType !== 'event')
    if (failure >= 0) {
      const f = frames[failure]
      const payload = jsonOrUndefined(decoder.decode(f.payload))
      const errorType = f.exceptionType ?? f.errorCode
      if (failure !== frames.length - 1) return { kind: 'malformed', detail: `frames after the ${f.messageType} frame` }
      if (!errorType || typeof (payload?.message ?? f.errorMessage) !== 'string') return { kind: 'malformed', detail: `${f.messageType} frame without type or message` }
      return { kind: 'error', status: 200, errorType, message: payload?.message ?? f.errorMessage, via: 'exception-frame' }
    }
    const events = frames.map((f) => f.eventType)
    if (events[0] === 'messageStart' && events.includes('messageStop') && events.at(-1) === 'metadata') return { kind: 'served' }
    return { kind: 'malformed', detail: `binary stream ended without an error after [${events.join(', ')}] (silent truncation)` }
  }
  const parser = new SseParser()
  let events
  try {
    events = [...parser.push(text()), ...parser.end()]
  } catch (e) {
    return { kind: 'malformed', detail: `SSE does not parse: ${e instanceof Error ? e.message : String(e)}` }
  }
  const error = events.findIndex((e) => e.event === 'error')
  if (error >= 0) {
    const data = jsonOrUndefined(events[error].data)
    if (error !== events.length - 1) return { kind: 'malformed', detail: 'SSE events after event: error' }
    if (typeof data?.type !== 'string' || typeof data?.message !== 'string') return { kind: 'malformed', detail: `event: error without type/message: ${events[error].data}` }
    return { kind: 'error', status: 200, errorType: data.type, message: data.message, via: 'sse-error' }
  }
  const names = events.map((e) => e.event)
  if (names[0] === 'messageStart' && names.includes('messageStop') && names.at(-1) === 'metadata') return { kind: 'served' }
  return { kind: 'malformed', detail: `SSE ended without an error after [${names.join(', ')}] (silent truncation)` }
}

/**
 * Messages of answers the router composes itself rather than relaying upstream's (src/engine/engine.ts).
 * Relayed upstream errors carry the simulator's message, which the noise rules set to start with UPSTREAM_TAG.
 */
export const ROUTER_MADE: ReadonlyArray<[string, RegExp]> = [
  ['window-full', /every deployment is at its configured limit|exceeds the configured limits of every deployment/],
  ['queue-deadline', /wait for configured capacity is longer than this request's deadline/],
  // Every attempt this request made failed upstream: the router relays that, it did not refuse.
  ['exhausted', /^Throttled upstream on every attempt|NO_MODELS_AVAILABLE: pool \S+: every attempt failed upstream/],
  ['no-models', /NO_MODELS_AVAILABLE/],
]
export const UPSTREAM_TAG = 'noise-sim:'

/** `window-full`, …, `upstream` (relayed from the simulator), or `other` (neither: reported, never expected). */
export function errorOrigin(message: string): string {
  if (message.startsWith(UPSTREAM_TAG)) return 'upstream'
  for (const [name, re] of ROUTER_MADE) if (re.test(message)) return name
  return 'other'
}

/** Deployment ids the router tried for one answer, from its trace headers. */
export function triedByRouter(res: Response): string[] {
  const failed = (res.headers.get('x-router-failovers') ?? '')
    .split(',')
    .map((s) => s.trim().split('=')[0])
    .filter((s) => s !== '')
  const served = res.headers.get('x-router-deployment')
  return served ? [...failed, served] : failed
}

/** Runs `one(0..n-1)` with at most `concurrency` in flight; results in request order. */
export async function runLoad<T>(n: number, concurrency: number, one: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await one(i)
    }),
  )
  return out
}

export interface RunSummary {
  n: number
  served: number
  /** Non-served answers by origin (`upstream`, `window-full`, `no-models`, …) and, for malformed ones, `malformed`. */
  byOrigin: Record<string, number>
  /** Non-served answers by how they were told: `429 ThrottlingException`, `stream exception-frame …`. */
  byError: Record<string, number>
  malformed: string[]
  /** The first message seen per origin (what the client was told), for failure messages. */
  samples: Record<string, string>
  /**
   * Non-served answers given while a deployment that could have served was left untried (not tried in this
   * request, and not hard down in the scenario): refusals a client trying every region would not have had.
   */
  refusedWhileServable: number
  attemptsMean: number
  attemptsMax: number
  /** attempts → how many requests needed that many. */
  attemptsHistogram: Record<number, number>
}

/**
 * `deployments`: id → region of every deployment the request could have used. `down`: regions that could not serve
 * any request in this phase of the scenario (hard down, or a storm everywhere).
 */
export function summarise(results: RequestResult[], deployments: Record<string, string>, down: ReadonlySet<string>): RunSummary {
  const s: RunSummary = { n: results.length, served: 0, byOrigin: {}, byError: {}, malformed: [], samples: {}, refusedWhileServable: 0, attemptsMean: 0, attemptsMax: 0, attemptsHistogram: {} }
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1)
  for (const r of results) {
    s.attemptsMean += r.attempts / results.length
    s.attemptsMax = Math.max(s.attemptsMax, r.attempts)
    s.attemptsHistogram[r.attempts] = (s.attemptsHistogram[r.attempts] ?? 0) + 1
    const o = r.outcome
    if (o.kind === 'served') {
      s.served++
      continue
    }
    if (o.kind === 'malformed') {
      bump(s.byOrigin, 'malformed')
      s.malformed.push(o.detail)
    } else {
      const origin = errorOrigin(o.message)
      bump(s.byOrigin, origin)
      s.samples[origin] ??= o.message
      bump(s.byError, o.via === 'http' ? `${o.status} ${o.errorType}` : `${o.via} ${o.errorType}`)
    }
    const untriedServable = Object.entries(deployments).some(([id, region]) => !r.tried.includes(id) && !down.has(region))
    if (untriedServable) s.refusedWhileServable++
  }
  return s
}

const pct = (k: number, n: number) => `${((100 * k) / Math.max(1, n)).toFixed(1)} %`

/** One line for failure messages and the summary table. */
export function describeRun(label: string, s: RunSummary): string {
  const origins = Object.entries(s.byOrigin)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  const errors = Object.entries(s.byError)
    .map(([k, v]) => `${k} ×${v}`)
    .join(', ')
  const hist = Object.entries(s.attemptsHistogram)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ')
  return (
    `${label} served ${s.served}/${s.n} (${pct(s.served, s.n)}); not served ${s.n - s.served}` +
    (s.n - s.served ? ` [by origin: ${origins}] [as: ${errors || '-'}]` : '') +
    `; refused while a region could serve: ${s.refusedWhileServable}` +
    `; attempts/request mean ${s.attemptsMean.toFixed(2)} max ${s.attemptsMax} (${hist})` +
    (s.malformed.length ? `; malformed e.g. ${s.malformed.slice(0, 3).join(' | ')}` : '') +
    Object.entries(s.samples)
      .map(([origin, message]) => `\n      e.g. ${origin}: ${JSON.stringify(message.slice(0, 300))}`)
      .join('')
  )
}

/**
 * The smallest k with P(F_router − F_baseline > k) ≤ alpha when both fail each of n requests independently with
 * probability q (F ~ Binomial(n, q), independent): how many more failures than the baseline a router that is
 * exactly as good as the baseline shows by chance. Exact, by convolution of the two binomial distributions.
 */
export function binomialTolerance(n: number, q: number, alpha: number): number {
  const p = binomialPmf(n, q)
  const tail = new Array<number>(n + 2).fill(0) // tail[m] = P(F ≥ m)
  for (let m = n; m >= 0; m--) tail[m] = tail[m + 1] + p[m]
  for (let k = 0; k <= n; k++) {
    let exceed = 0
    for (let b = 0; b + k + 1 <= n; b++) exceed += p[b] * tail[b + k + 1]
    if (exceed <= alpha) return k
  }
  return n
}

/** P(F > m) for F ~ Binomial(n, q). */
export function binomialUpperTail(n: number, q: number, m: number): number {
  return binomialPmf(n, q)
    .slice(m + 1)
    .reduce((a, b) => a + b, 0)
}

function binomialPmf(n: number, q: number): number[] {
  const p = new Array<number>(n + 1).fill(0)
  if (q <= 0) return (p[0] = 1), p
  if (q >= 1) return (p[n] = 1), p
  // In log space: (1 − q)^n underflows for large n·q otherwise.
  let logP = n * Math.log1p(-q)
  const ratio = Math.log(q) - Math.log1p(-q)
  for (let k = 0; k <= n; k++) {
    p[k] = Math.exp(logP)
    logP += Math.log(n - k) - Math.log(k + 1) + ratio
  }
  return p
}
