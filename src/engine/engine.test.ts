/**
 * The engine's bookkeeping, path by path, against the Bedrock simulator: every reservation `acquire` hands out is
 * settled exactly once — reported (`report`) or handed to the next `acquire` as `previous` — whether the request
 * is served, fails over, fails fast, is exhausted or refused, streams to the end, breaks off, is cancelled by its
 * reader, or the client goes away.
 *
 * Each test builds its own pool (unique name, unique model IDs), so its simulator rules (selected by model ID, with
 * `times`) strike only its own requests; rules are removed after each test, and the simulator is never reset (other
 * test files share it).
 */
import { afterEach, describe, expect, inject, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import type { FaultRule } from '../../simulator/types'
import { parseRouterConfig } from '../config/schema'
import type { PoolConfig } from '../config/types'
import type { RouterEnv } from '../env'
import type { AttemptOutcome, Decision, RequestEstimate, Reservation } from '../routing/types'
import { MemoryStateStore } from '../state/memory'
import type { StateStore } from '../state/types'
import type { Operation } from '../upstream/bedrock'
import type { StreamFailure, StreamRenderer } from './converse-stream'
import { route } from './engine'
import type { ClientIdentity } from '../auth/identity'
import { CLIENT_WINDOW } from './client-limits'
import type { EngineContext, Outcome } from './outcome'
import type { RequestTrace } from './trace'

const sim = inject('simulator')

// ---------------------------------------------------------------------------------------------------------------------
// Simulator control
// ---------------------------------------------------------------------------------------------------------------------

const ruleIds: string[] = []

async function control(path: string, init?: { method?: string; body?: unknown }): Promise<any> {
  const res = await fetch(`${sim.controlUrl}${path}`, {
    method: init?.method ?? (init?.body === undefined ? 'GET' : 'POST'),
    body: init?.body === undefined ? undefined : JSON.stringify(init.body),
  })
  const json = (await res.json()) as any
  if (!res.ok) throw new Error(`simulator ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

/** Adds a fault rule for this test only (removed in afterEach). */
async function rule(r: FaultRule): Promise<void> {
  const { id } = await control('/__sim/rules', { body: r })
  ruleIds.push(id)
}

/** Requests the simulator received for a model ID (each test's model IDs are its own). */
async function simRequests(modelId: string): Promise<Array<{ status: number; errorType?: string; operation?: string }>> {
  const { requests } = await control(`/__sim/requests?modelId=${encodeURIComponent(modelId)}`)
  return requests
}

// A rule whose `times` are used up is gone already (404): fine.
afterEach(async () => {
  while (ruleIds.length) await fetch(`${sim.controlUrl}/__sim/rules/${ruleIds.pop()}`, { method: 'DELETE' }).then((r) => r.body?.cancel())
})

// ---------------------------------------------------------------------------------------------------------------------
// Pools, context, requests
// ---------------------------------------------------------------------------------------------------------------------

const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1']
let poolSeq = 0

interface DeploymentSpec {
  region?: string
  credentials?: string
  rpm?: number
}

/**
 * A pool of the given deployments: the first is the only primary, the others are fallbacks, so a first attempt
 * always goes to the first (`a`) and a failover to the next (`b`, ...). Each deployment has its own model ID.
 */
function makePool(specs: DeploymentSpec[], extra: Record<string, unknown> = {}): PoolConfig {
  const n = ++poolSeq
  const name = `engine-test-${n}`
  const deployments = specs.map((spec, i) => {
    const id = `t${n}-${String.fromCharCode(97 + i)}`
    const region = spec.region ?? REGIONS[i % REGIONS.length]
    return { id, modelId: `anthropic.engine-${id}-v1:0`, region, endpoint: sim.endpoints[region], fallback: i > 0, ...spec }
  })
  return parseRouterConfig({ pools: { [name]: { deployments, ...extra } } }).pools[name]
}

const ENV: RouterEnv = {
  AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
  // A named credential set (`"credentials": "alt"`), as a Bedrock API key.
  AWS_BEARER_TOKEN_BEDROCK_ALT: DEMO_API_KEY,
}

interface Settlement {
  via: 'report' | 'previous'
  outcome: AttemptOutcome
}

/**
 * A StateStore around the real MemoryStateStore that records every reservation `acquire` returns and every time one
 * is settled (reported, or handed back as `previous`). Violations are collected (not thrown: the ledger swallows
 * report errors) and checked by `expectNoDoubleSettlement` / `expectEachSettledOnce`.
 */
class CountingStore implements StateStore {
  /** How far the inner store's clock runs behind real time (to make reservations "in the past"). */
  clockBehindMs = 0
  readonly inner = new MemoryStateStore(() => Date.now() - this.clockBehindMs)
  readonly acquired: Reservation[] = []
  readonly acquireCalls: Array<{ tried: string[]; previous?: AttemptOutcome; decision?: Decision }> = []
  readonly violations: string[] = []
  private readonly settlements = new Map<Reservation, Settlement[]>()

  /** Runs at the start of each acquire (after `previous` is counted), before the inner store decides. */
  beforeAcquire?: (call: number, previous?: AttemptOutcome) => void | Promise<void>

  async acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    const call = { tried: [...tried], previous } as CountingStore['acquireCalls'][number]
    this.acquireCalls.push(call)
    if (previous) this.settled('previous', previous)
    await this.beforeAcquire?.(this.acquireCalls.length, previous)
    const decision = await this.inner.acquire(pool, estimate, tried, previous)
    call.decision = decision
    if (decision.kind === 'dispatch') {
      if (this.settlements.has(decision.reservation)) this.violations.push(`acquire returned a reservation twice (${decision.deploymentId})`)
      this.acquired.push(decision.reservation)
      this.settlements.set(decision.reservation, [])
    }
    return decision
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    this.settled('report', outcome)
    return this.inner.report(pool, outcome)
  }

  snapshot(pool: PoolConfig) {
    return this.inner.snapshot(pool)
  }

  addStats(batch: Parameters<StateStore['addStats']>[0]) {
    return this.inner.addStats(batch)
  }

  readStats(from: number, to: number) {
    return this.inner.readStats(from, to)
  }

  private settled(via: Settlement['via'], outcome: AttemptOutcome) {
    const r = outcome.reservation
    if (!r) return void this.violations.push(`${via} of ${outcome.deploymentId} without a reservation`)
    const list = this.settlements.get(r)
    if (!list) return void this.violations.push(`${via} of a reservation acquire never returned (${outcome.deploymentId})`)
    list.push({ via, outcome })
    if (list.length > 1) {
      this.violations.push(`reservation of ${r.deploymentId} settled ${list.length} times: ${list.map((s) => `${s.via}(${s.outcome.result.class} ${s.outcome.result.status})`).join(', ')}`)
    }
  }

  /** How the reservation was settled (so far). */
  settlementsOf(r: Reservation): Settlement[] {
    return this.settlements.get(r) ?? []
  }

  /** The one settlement of the reservation acquire returned for `deploymentId` (the only one for it). */
  only(deploymentId: string): Settlement {
    const rs = this.acquired.filter((r) => r.deploymentId === deploymentId)
    expect(rs, `reservations acquired for ${deploymentId}`).toHaveLength(1)
    const s = this.settlementsOf(rs[0])
    expect(s, `settlements of ${deploymentId}'s reservation`).toHaveLength(1)
    return s[0]
  }

  expectNoDoubleSettlement() {
    expect(this.violations).toEqual([])
  }

  expectEachSettledOnce() {
    this.expectNoDoubleSettlement()
    for (const r of this.acquired) expect(this.settlementsOf(r).length, `settlements of ${r.deploymentId}'s reservation`).toBe(1)
  }
}

interface Harness {
  store: CountingStore
  ctx: EngineContext
  /** Awaits every promise handed to waitUntil, including ones added while waiting. */
  drain(): Promise<void>
}

function harness(env: RouterEnv = ENV): Harness {
  const store = new CountingStore()
  const pending: Promise<unknown>[] = []
  return {
    store,
    ctx: { env, store, waitUntil: (p) => void pending.push(p) },
    async drain() {
      for (let done = 0; done < pending.length; ) {
        const n = pending.length
        await Promise.all(pending.slice(done, n))
        done = n
      }
    },
  }
}

const BODY = { messages: [{ role: 'user', content: [{ text: 'hello' }] }] }

function send(pool: PoolConfig, h: Harness, opts: { operation?: Operation; signal?: AbortSignal } = {}): Promise<Outcome> {
  return route({ pool, operation: opts.operation ?? 'converse', requestedModel: pool.name, body: BODY, bodyText: JSON.stringify(BODY), signal: opts.signal }, h.ctx)
}

/** The deployment the trace says served (what the front door puts in x-router-deployment). */
function servedBy(trace: RequestTrace): string | null {
  return trace.finish(new Response(null), { logNow: false }).headers.get('x-router-deployment')
}

/** A renderer that passes frames through and counts the error endings. */
function passThrough() {
  const errors: StreamFailure[] = []
  const renderer: StreamRenderer = {
    event: (f) => f.bytes,
    error: (f) => (errors.push(f), new Uint8Array()),
  }
  return { renderer, errors }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader()
  let bytes = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return bytes
    bytes += value.length
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function expectKind<K extends Outcome['kind']>(outcome: Outcome, kind: K): asserts outcome is Extract<Outcome, { kind: K }> {
  expect(outcome.kind, JSON.stringify({ kind: outcome.kind, attempts: outcome.trace.attempts, ...('message' in outcome ? { message: outcome.message } : {}) })).toBe(kind)
}

// ---------------------------------------------------------------------------------------------------------------------
// Converse
// ---------------------------------------------------------------------------------------------------------------------

describe('engine bookkeeping: Converse', () => {
  it('served on the first try: one reservation, reported once with success', async () => {
    const pool = makePool([{}, {}])
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'served')
    expect(JSON.parse(outcome.body).output.message.role).toBe('assistant')
    expect(outcome.trace.attempts).toEqual([])
    expect(servedBy(outcome.trace)).toBe(pool.deployments[0].id)
    expect(h.store.acquired).toHaveLength(1)
    h.store.expectEachSettledOnce()
    const s = h.store.only(pool.deployments[0].id)
    expect(s.via).toBe('report')
    expect(s.outcome.result.class).toBe('success')
    expect(s.outcome.usage?.outputTokens).toBeGreaterThan(0)
  })

  it('a router error after the reservation (a body that cannot be serialised) still settles it, then the error propagates', async () => {
    const pool = makePool([{}, {}])
    const h = harness()
    // No verbatim text: the engine serialises the body for the deployment, after reserving — and a BigInt cannot be.
    const bad = route({ pool, operation: 'converse', requestedModel: pool.name, body: { ...BODY, extra: 10n as unknown as number } }, h.ctx)
    await expect(bad).rejects.toThrow(/BigInt/)
    await h.drain()
    expect(h.store.acquired).toHaveLength(1)
    h.store.expectEachSettledOnce()
  })

  for (const [what, fault, cls] of [
    ['throttled (429)', { fault: 'throttle' }, 'throttled'],
    ['unavailable (503)', { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' }, 'unavailable'],
  ] as const) {
    it(`fails over when the first deployment is ${what}: its reservation is handed over as previous, not reported too`, async () => {
      const pool = makePool([{}, {}])
      const [a, b] = pool.deployments
      await rule({ ...fault, modelId: a.modelId, times: 1 } as FaultRule)
      const h = harness()
      const outcome = await send(pool, h)
      await h.drain()
      expectKind(outcome, 'served')
      expect(outcome.trace.attempts).toMatchObject([{ deployment: a.id, class: cls }])
      expect(servedBy(outcome.trace)).toBe(b.id)
      expect(h.store.acquired.map((r) => r.deploymentId)).toEqual([a.id, b.id])
      h.store.expectEachSettledOnce()
      expect(h.store.only(a.id)).toMatchObject({ via: 'previous', outcome: { result: { class: cls } } })
      expect(h.store.only(b.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
      // The handover happened in the acquire that chose b.
      expect(h.store.acquireCalls[1]).toMatchObject({ tried: [a.id], previous: { deploymentId: a.id } })
    })
  }

  it('fails fast on a client error (400 ValidationException): failed, reported once, nothing else tried', async () => {
    const pool = makePool([{}, {}])
    const [a, b] = pool.deployments
    await rule({ fault: 'error', status: 400, errorType: 'ValidationException', message: 'messages: bad shape', modelId: a.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'failed')
    expect(outcome.result).toMatchObject({ class: 'client', status: 400, errorType: 'ValidationException' })
    expect(outcome.relay).toMatchObject({ status: 400, errorType: 'ValidationException' })
    expect(outcome.trace.attempts).toMatchObject([{ deployment: a.id, class: 'client' }])
    expect(h.store.acquireCalls).toHaveLength(1)
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'client', status: 400 } } })
    expect(await simRequests(b.modelId)).toHaveLength(0)
  })

  it('is exhausted when every deployment fails: rejected, the last failure reported once', async () => {
    const pool = makePool([{}, {}, {}])
    for (const d of pool.deployments) await rule({ fault: 'error', status: 503, errorType: 'ServiceUnavailableException', modelId: d.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'rejected')
    expect(outcome).toMatchObject({ cause: 'exhausted', status: 503, errorType: 'ServiceUnavailableException' })
    expect(outcome.trace.attempts.map((a) => a.class)).toEqual(['unavailable', 'unavailable', 'unavailable'])
    expect(h.store.acquired).toHaveLength(3)
    h.store.expectEachSettledOnce()
    const [first, second, last] = outcome.trace.attempts.map((a) => h.store.only(a.deployment))
    expect(first.via).toBe('previous')
    expect(second.via).toBe('previous')
    expect(last).toMatchObject({ via: 'report', outcome: { result: { class: 'unavailable', status: 503 } } })
    expect(h.store.acquireCalls).toHaveLength(3) // maxAttempts: no fourth acquire to hand the last one to
  })

  it('is exhausted with every attempt throttled: 429 exhausted, each reservation settled once', async () => {
    const pool = makePool([{}, {}])
    for (const d of pool.deployments) await rule({ fault: 'throttle', modelId: d.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'rejected')
    expect(outcome).toMatchObject({ cause: 'exhausted', status: 429, errorType: 'ThrottlingException' })
    h.store.expectEachSettledOnce()
    expect(h.store.acquired).toHaveLength(2)
    expect(h.store.only(pool.deployments[1].id).via).toBe('report')
  })

  it('refuses without dispatch when the configured rpm window is full: rejected capacity, nothing acquired', async () => {
    // Only a windowed strategy keeps to configured rpm (weighted only accounts it); no maxQueueMs: refuse, not queue.
    const pool = makePool([{ rpm: 1 }], { strategy: 'rate-limit-aware' })
    const [a] = pool.deployments
    const h = harness()
    const first = await send(pool, h)
    expectKind(first, 'served')
    const second = await send(pool, h)
    await h.drain()
    expectKind(second, 'rejected')
    expect(second).toMatchObject({ cause: 'capacity', status: 429, errorType: 'ThrottlingException' })
    expect(second.trace.attempts).toEqual([])
    expect(h.store.acquireCalls).toHaveLength(2)
    expect(h.store.acquireCalls[1].decision?.kind).toBe('reject')
    expect(h.store.acquired).toHaveLength(1) // only the first request's
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
    expect(await simRequests(a.modelId)).toHaveLength(1)
  })

  it('skips a deployment without credentials (misconfigured) and another serves: its reservation handed over once', async () => {
    const pool = makePool([{ credentials: 'nowhere' }, { credentials: 'alt' }])
    const [a, b] = pool.deployments
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'served')
    expect(outcome.trace.attempts).toMatchObject([{ deployment: a.id, class: 'misconfigured' }])
    expect(servedBy(outcome.trace)).toBe(b.id)
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id)).toMatchObject({ via: 'previous', outcome: { result: { class: 'misconfigured', status: 500 } } })
    expect(h.store.only(b.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
    expect(await simRequests(a.modelId)).toHaveLength(0) // nothing was sent without credentials
    expect(await simRequests(b.modelId)).toHaveLength(1)
  })

  it('reports the misconfigured reservation once when it is the last attempt', async () => {
    const pool = makePool([{ credentials: 'nowhere' }])
    const h = harness()
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'rejected')
    expect(outcome.cause).toBe('exhausted')
    h.store.expectEachSettledOnce()
    expect(h.store.only(pool.deployments[0].id)).toMatchObject({ via: 'report', outcome: { result: { class: 'misconfigured' } } })
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// ConverseStream
// ---------------------------------------------------------------------------------------------------------------------

describe('engine bookkeeping: ConverseStream', () => {
  it('served: settled once, with success, when the body has been read to the end — not before', async () => {
    const pool = makePool([{}, {}])
    const [a] = pool.deployments
    const h = harness()
    const outcome = await send(pool, h, { operation: 'converse-stream' })
    expectKind(outcome, 'streaming')
    expect(servedBy(outcome.trace)).toBe(a.id)
    await h.drain()
    expect(h.store.acquired).toHaveLength(1)
    expect(h.store.settlementsOf(h.store.acquired[0])).toHaveLength(0) // committed, not yet rendered: still held
    const { renderer, errors } = passThrough()
    const bytes = await readAll(outcome.events.render(renderer))
    await h.drain()
    expect(bytes).toBeGreaterThan(0)
    expect(errors).toEqual([])
    h.store.expectEachSettledOnce()
    const s = h.store.only(a.id)
    expect(s).toMatchObject({ via: 'report', outcome: { stream: true, result: { class: 'success', status: 200 } } })
    expect(s.outcome.usage?.outputTokens).toBeGreaterThan(0)
  })

  it('fails over before commit (exception before any content), then streams: each reservation settled once', async () => {
    const pool = makePool([{}, {}])
    const [a, b] = pool.deployments
    await rule({ fault: 'exception', afterFrames: 1, exceptionType: 'serviceUnavailableException', modelId: a.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h, { operation: 'converse-stream' })
    expectKind(outcome, 'streaming')
    expect(outcome.trace.attempts).toMatchObject([{ deployment: a.id, class: 'unavailable' }])
    expect(servedBy(outcome.trace)).toBe(b.id)
    await readAll(outcome.events.render(passThrough().renderer))
    await h.drain()
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id)).toMatchObject({ via: 'previous', outcome: { stream: true, result: { class: 'unavailable' } } })
    expect(h.store.only(b.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
  })

  it('cut after commit: the renderer ends the stream with an error, settled once with the failure', async () => {
    const pool = makePool([{}, {}])
    const [a, b] = pool.deployments
    // messageStart + the first content delta (commit), then the connection breaks.
    await rule({ fault: 'cut', afterFrames: 2, modelId: a.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h, { operation: 'converse-stream' })
    expectKind(outcome, 'streaming')
    expect(servedBy(outcome.trace)).toBe(a.id)
    const { renderer, errors } = passThrough()
    await readAll(outcome.events.render(renderer))
    await h.drain()
    expect(errors).toHaveLength(1)
    expect(errors[0].result.class).toBe('network')
    h.store.expectEachSettledOnce()
    expect(h.store.acquired).toHaveLength(1) // committed: no failover after the first content
    expect(h.store.only(a.id)).toMatchObject({ via: 'report', outcome: { stream: true, result: { class: 'network' } } })
    expect(await simRequests(b.modelId)).toHaveLength(0)
  })

  it('cancelled by the reader mid-stream: settled once, as cancelled', async () => {
    const pool = makePool([{}])
    const [a] = pool.deployments
    await rule({ fault: 'delay', frameDelayMs: 150, modelId: a.modelId, times: 1 })
    const h = harness()
    const outcome = await send(pool, h, { operation: 'converse-stream' })
    expectKind(outcome, 'streaming')
    const { renderer, errors } = passThrough()
    const reader = outcome.events.render(renderer).getReader()
    const first = await reader.read()
    expect(first.done).toBe(false)
    await h.drain()
    expect(h.store.settlementsOf(h.store.acquired[0])).toHaveLength(0) // mid-stream: still held
    await reader.cancel()
    await h.drain()
    expect(errors).toEqual([])
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id)).toMatchObject({ via: 'report', outcome: { stream: true, result: { status: 499 } } })
    // Nothing settles it again when the upstream stream winds down.
    await sleep(200)
    await h.drain()
    h.store.expectEachSettledOnce()
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Client gone
// ---------------------------------------------------------------------------------------------------------------------

describe('engine bookkeeping: the client goes away', () => {
  it('signal already aborted: cancelled, nothing acquired, nothing sent', async () => {
    const pool = makePool([{}])
    const h = harness()
    const outcome = await send(pool, h, { signal: AbortSignal.abort() })
    await h.drain()
    expectKind(outcome, 'cancelled')
    expect(h.store.acquireCalls).toHaveLength(0)
    h.store.expectEachSettledOnce()
    expect(await simRequests(pool.deployments[0].modelId)).toHaveLength(0)
  })

  for (const operation of ['converse', 'converse-stream'] as const) {
    it(`aborted during the upstream attempt (${operation}): cancelled, the reservation released at once, once`, async () => {
      const pool = makePool([{}, {}])
      const [a, b] = pool.deployments
      // Upstream holds the answer (Converse: before the headers; stream: before the first frame) for 3 s.
      await rule(operation === 'converse' ? { fault: 'stall', ms: 3000, modelId: a.modelId, times: 1 } : { fault: 'delay', firstFrameMs: 3000, modelId: a.modelId, times: 1 })
      const h = harness()
      const client = new AbortController()
      let settledAtAbort = -1
      setTimeout(() => {
        client.abort()
        settledAtAbort = h.store.acquired.length === 1 ? h.store.settlementsOf(h.store.acquired[0]).length : -1
      }, 50)
      const started = Date.now()
      const outcome = await send(pool, h, { operation, signal: client.signal })
      await h.drain()
      expectKind(outcome, 'cancelled')
      expect(Date.now() - started).toBeLessThan(1500)
      expect(settledAtAbort).toBe(1) // released by the abort itself, not later
      h.store.expectEachSettledOnce()
      expect(h.store.acquired).toHaveLength(1)
      expect(h.store.only(a.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'client', status: 499 } } })
      expect(await simRequests(b.modelId)).toHaveLength(0)
    })
  }

  it('aborted after a failed attempt, while its handover to the next acquire is in flight: settled once, as the failure', async () => {
    const pool = makePool([{}, {}])
    const [a, b] = pool.deployments
    await rule({ fault: 'error', status: 503, errorType: 'ServiceUnavailableException', modelId: a.modelId, times: 1 })
    const h = harness()
    const client = new AbortController()
    // Between an attempt's failure and the next acquire the engine runs only microtasks, so a real abort lands either
    // in the attempt (then it is CLIENT_GONE, released) or in the acquire that carries the failure as `previous`. The
    // latter, with a slow state store (a Durable Object round trip): the client leaves while that acquire runs.
    h.store.beforeAcquire = async (call) => {
      if (call !== 2) return
      setTimeout(() => client.abort(), 20)
      await sleep(120)
    }
    const outcome = await send(pool, h, { signal: client.signal })
    await h.drain()
    expectKind(outcome, 'cancelled')
    expect(outcome.trace.attempts).toMatchObject([{ deployment: a.id, class: 'unavailable' }])
    h.store.expectEachSettledOnce()
    // a's failure went to the store with the acquire, once; the abort did not release it again as client-gone.
    expect(h.store.only(a.id)).toMatchObject({ via: 'previous', outcome: { result: { class: 'unavailable', status: 503 } } })
    // The acquire then reserved b; the client had gone, so b was released, not sent.
    expect(h.store.only(b.id)).toMatchObject({ via: 'report', outcome: { result: { class: 'client', status: 499 } } })
    expect(await simRequests(b.modelId)).toHaveLength(0)
  })

  it('aborted after a misconfigured deployment was skipped, before the next acquire: settled once', async () => {
    const pool = makePool([{ credentials: 'nowhere' }, {}])
    const [a, b] = pool.deployments
    const client = new AbortController()
    // The abort arrives while the engine looks up a's credentials, after a's reservation is held: the next loop turn
    // then finds the client gone with a's outcome still pending as `previous` (the abort listener has released it).
    const env = new Proxy(ENV, {
      get(target, name) {
        if (name === 'AWS_ACCESS_KEY_ID_NOWHERE') client.abort()
        return Reflect.get(target, name)
      },
    })
    const h = harness(env)
    const outcome = await send(pool, h, { signal: client.signal })
    await h.drain()
    expectKind(outcome, 'cancelled')
    expect(h.store.acquireCalls).toHaveLength(1) // no acquire after the client left
    h.store.expectEachSettledOnce()
    expect(h.store.only(a.id).via).toBe('report')
    expect(await simRequests(b.modelId)).toHaveLength(0)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// Queued for configured capacity (rate-limit-aware with maxQueueMs)
// ---------------------------------------------------------------------------------------------------------------------

describe('engine bookkeeping: queued for window room', () => {
  const estimate: RequestEstimate = { inputTokens: 10, maxTokens: 10, stream: false }

  /**
   * Fills the rpm-1 window of the pool's only deployment with a reservation made `ago` ms in the past (by the inner
   * store, so it is not counted here): the window has room again `60_000 - ago` ms from now.
   */
  async function fillWindow(h: Harness, pool: PoolConfig, ago: number) {
    h.store.clockBehindMs = ago
    try {
      expect((await h.store.inner.acquire(pool, estimate, [])).kind).toBe('dispatch')
    } finally {
      h.store.clockBehindMs = 0
    }
  }

  it('waits for room, then is served: the queued reservation settled once', async () => {
    const pool = makePool([{ rpm: 1 }], { strategy: 'rate-limit-aware', maxQueueMs: 5000, timeoutMs: 10_000 })
    const h = harness()
    await fillWindow(h, pool, 59_700)
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'served')
    expect(h.store.acquireCalls[0].decision).toMatchObject({ kind: 'dispatch', wait: 'queue' })
    h.store.expectEachSettledOnce()
    expect(h.store.only(pool.deployments[0].id)).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
  })

  it('the client leaves while queued: cancelled, the queued reservation released once', async () => {
    const pool = makePool([{ rpm: 1 }], { strategy: 'rate-limit-aware', maxQueueMs: 5000, timeoutMs: 10_000 })
    const h = harness()
    await fillWindow(h, pool, 58_000) // room in ~2 s
    const client = new AbortController()
    setTimeout(() => client.abort(), 50)
    const started = Date.now()
    const outcome = await send(pool, h, { signal: client.signal })
    await h.drain()
    expectKind(outcome, 'cancelled')
    expect(Date.now() - started).toBeLessThan(1000)
    h.store.expectEachSettledOnce()
    expect(h.store.only(pool.deployments[0].id)).toMatchObject({ via: 'report', outcome: { result: { class: 'client', status: 499 } } })
    expect(await simRequests(pool.deployments[0].modelId)).toHaveLength(0)
  })

  it('a queue wait beyond the deadline: rejected capacity, the reservation given back once', async () => {
    // Room in ~1000 ms: within maxQueueMs (1040) but past the deadline's last useful moment (1050 - 100).
    const pool = makePool([{ rpm: 1 }], { strategy: 'rate-limit-aware', maxQueueMs: 1040, timeoutMs: 1050 })
    const h = harness()
    await fillWindow(h, pool, 59_000)
    const outcome = await send(pool, h)
    await h.drain()
    expectKind(outcome, 'rejected')
    expect(outcome).toMatchObject({ cause: 'capacity', status: 429 })
    expect(h.store.acquireCalls[0].decision).toMatchObject({ kind: 'dispatch', wait: 'queue' })
    h.store.expectEachSettledOnce()
    expect(h.store.only(pool.deployments[0].id).via).toBe('report')
    expect(await simRequests(pool.deployments[0].modelId)).toHaveLength(0)
  })
})

// ---------------------------------------------------------------------------------------------------------------------
// A client with limits of its own: its window's reservation is settled exactly once too
// ---------------------------------------------------------------------------------------------------------------------

describe('engine bookkeeping: the client’s own rpm/tpm window', () => {
  let clientSeq = 0
  const limited = (extra: Partial<ClientIdentity['scope']> = {}): ClientIdentity => ({ name: `limited-${++clientSeq}`, kind: 'key', scope: { rpm: 100, ...extra } })
  const sendAs = (pool: PoolConfig, h: Harness, identity: ClientIdentity, operation: Operation = 'converse') =>
    route({ pool, operation, requestedModel: pool.name, body: BODY, bodyText: JSON.stringify(BODY), identity }, h.ctx)
  const windowOf = (h: Harness) => h.store.acquired.filter((r) => r.deploymentId === CLIENT_WINDOW)

  it('served: the client window is acquired once, in the first round, and settled once with the real usage', async () => {
    const pool = makePool([{}, {}])
    await rule({ fault: 'throttle', modelId: pool.deployments[0].modelId, times: 1 })
    const h = harness()
    const outcome = await sendAs(pool, h, limited())
    await h.drain()
    expectKind(outcome, 'served')
    expect(windowOf(h)).toHaveLength(1) // not again on the failover
    h.store.expectEachSettledOnce()
    const settlement = h.store.settlementsOf(windowOf(h)[0])[0]
    expect(settlement).toMatchObject({ via: 'report', outcome: { result: { class: 'success' } } })
    expect(settlement.outcome.usage).toEqual(outcome.usage)
  })

  it('failed, exhausted and refused requests give the client window back, once', async () => {
    const pool = makePool([{}])
    const h = harness()
    await rule({ fault: 'error', status: 400, errorType: 'ValidationException', modelId: pool.deployments[0].modelId, times: 1 })
    expectKind(await sendAs(pool, h, limited()), 'failed')
    await rule({ fault: 'error', status: 503, errorType: 'ServiceUnavailableException', modelId: pool.deployments[0].modelId, times: 1 })
    expectKind(await sendAs(pool, h, limited()), 'rejected')
    await h.drain()
    h.store.expectEachSettledOnce()
    for (const r of windowOf(h)) expect(h.store.settlementsOf(r)[0].outcome.result.status).toBe(499)
  })

  it('over its own limit: rejected client-limit, the pool reservation given back, nothing sent', async () => {
    const pool = makePool([{}])
    const h = harness()
    const identity = limited({ rpm: 1 })
    expectKind(await sendAs(pool, h, identity), 'served')
    const outcome = await sendAs(pool, h, identity)
    await h.drain()
    expectKind(outcome, 'rejected')
    expect(outcome).toMatchObject({ cause: 'client-limit', status: 429, message: expect.stringContaining(`key ${identity.name}: its own rpm 1 window full`) })
    expect(outcome.retryAfterMs).toBeGreaterThan(0)
    h.store.expectEachSettledOnce()
    expect(await simRequests(pool.deployments[0].modelId)).toHaveLength(1)
  })

  it('streams: the client window is settled at the end of the stream, with its usage', async () => {
    const pool = makePool([{}])
    const h = harness()
    const outcome = await sendAs(pool, h, limited(), 'converse-stream')
    expectKind(outcome, 'streaming')
    await h.drain()
    expect(h.store.settlementsOf(windowOf(h)[0])).toHaveLength(0)
    await readAll(outcome.events.render(passThrough().renderer))
    await h.drain()
    h.store.expectEachSettledOnce()
    expect(h.store.settlementsOf(windowOf(h)[0])[0].outcome.usage?.outputTokens).toBeGreaterThan(0)
  })
})
