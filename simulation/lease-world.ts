/**
 * The built lease code (src/state/leases.ts) in virtual time: N isolates' LeaseStateStores in front of one object —
 * the memory store, which runs the same grant code as the Durable Object — with a clock whose timers (the renewals'
 * waits) run as the driver moves time on. Each request is decided, sent and answered at once; what the deployments
 * received is kept, so a test can check every sliding 60 s against the quota. Used by src/state/leases.test.ts and
 * BENCHMARKS.md §5d (bench/leases.ts), so both measure the code that runs, not a model of it.
 */
import type { PoolConfig } from '../src/config/types'
import { mulberry32 } from '../src/routing/random'
import type { TokenUsage } from '../src/routing/types'
import { settledTokens } from '../src/routing/quota'
import { LeaseStateStore, type LeaseClock } from '../src/state/leases'
import { MemoryStateStore } from '../src/state/memory'
import type { LeaseBackend, StateStore } from '../src/state/types'

export const WORLD_T0 = 1_700_000_000_000
export const WORLD_USAGE: TokenUsage = { inputTokens: 100, outputTokens: 50 }

export class VirtualTime {
  now = WORLD_T0
  private timers: Array<{ at: number; resolve: () => void }> = []
  /** Runs `fn` when virtual time reaches now + `ms`. */
  timer(ms: number, fn: () => void) {
    this.timers.push({ at: this.now + ms, resolve: fn })
  }
  clock(seed: number): LeaseClock {
    const rng = mulberry32(seed)
    return { now: () => this.now, sleep: (ms) => new Promise<void>((resolve) => this.timers.push({ at: this.now + ms, resolve })), rng }
  }
  /** Moves time to `t`, running every timer due on the way (and what they start). */
  async advance(t: number) {
    for (;;) {
      await settle()
      let due = -1
      for (let i = 0; i < this.timers.length; i++) if (this.timers[i].at <= t && (due < 0 || this.timers[i].at < this.timers[due].at)) due = i
      if (due < 0) break
      const [timer] = this.timers.splice(due, 1)
      this.now = Math.max(this.now, timer.at)
      timer.resolve()
    }
    this.now = t
    await settle()
  }
}

async function settle() {
  for (let i = 0; i < 20; i++) await Promise.resolve()
}

export type LeaseWorld = ReturnType<typeof leaseWorld>

export interface WorldOptions {
  /** The object's clock runs this far ahead of the isolates' (negative: behind), ms. */
  skewMs?: number
  /** Each call to the object takes this long there and back (half each way), virtual ms. */
  rttMs?: number
  /** Share of lease renewals that fail: before the object applied them, or after (the answer lost). */
  leaseFaults?: { rate: number; when: 'before' | 'after' }
  /** The first lease renewal never answers (a call the runtime dropped). */
  hangFirstLease?: boolean
  /** Share of attempts Bedrock throttles (not counted by it) and answer time, virtual ms (0: at once). */
  throttleRate?: number
  answerMs?: number
  /** A share of requests this many input tokens long (the rest 100): sizes a slice sized on the average does not expect. */
  bigRequests?: { share: number; inputTokens: number }
  seed?: number
}

/**
 * `isolates` LeaseStateStores over one object. With several pools (joined by a quota group: one object keeps them),
 * isolate i routes pool i mod n.
 */
export function leaseWorld(pools: PoolConfig | PoolConfig[], isolates: number, opts: WorldOptions = {}) {
  const poolList = Array.isArray(pools) ? pools : [pools]
  const time = new VirtualTime()
  const rng = mulberry32(opts.seed ?? 5)
  const skew = opts.skewMs ?? 0
  const object = new MemoryStateStore(() => time.now + skew, mulberry32(99))
  const half = (opts.rttMs ?? 0) / 2
  let hung = false
  const wire = async () => {
    if (half > 0) await new Promise<void>((resolve) => time.timer(half, resolve))
  }
  // The object behind a wire (round trip, faults), as the Durable Object client would be.
  const backend: StateStore & LeaseBackend = {
    acquire: async (...a) => (await wire(), await object.acquire(...a).finally(wire)),
    report: async (...a) => (await wire(), await object.report(...a)),
    snapshot: (pool) => object.snapshot(pool),
    addStats: (b) => object.addStats(b),
    readStats: (f, t) => object.readStats(f, t),
    lease: async (pool, report, validMs) => {
      if (opts.hangFirstLease && !hung) {
        hung = true
        return new Promise<never>(() => {})
      }
      await wire()
      const fault = opts.leaseFaults && rng() < opts.leaseFaults.rate ? opts.leaseFaults.when : undefined
      if (fault === 'before') throw new Error('lease call failed before the object')
      const answer = await object.lease(pool, report, validMs)
      await wire()
      if (fault === 'after') throw new Error('lease answer lost')
      return answer
    },
  }
  const stores = Array.from({ length: isolates }, (_, i) => new LeaseStateStore(backend, time.clock(i + 1)))
  /** What Bedrock received: every send, and whether it counted it (a throttled one it did not). */
  const sends: Array<{ at: number; id: string; counted: boolean; tokens: number }> = []
  const pending: Promise<unknown>[] = []
  /** One request on isolate `i`: decided, sent, answered (after `answerMs`) with success, or a throttle at `throttleRate`. */
  async function request(i: number, result: 'success' | 'unavailable' = 'success') {
    const big = opts.bigRequests !== undefined && rng() < opts.bigRequests.share
    const usage: TokenUsage = big ? { inputTokens: opts.bigRequests!.inputTokens, outputTokens: WORLD_USAGE.outputTokens } : WORLD_USAGE
    const p = poolList[i % poolList.length]
    const d = await stores[i].acquire(p, { inputTokens: usage.inputTokens, maxTokens: 50, stream: false }, [])
    if (d.kind !== 'dispatch') return 'refused'
    const throttled = result === 'success' && opts.throttleRate !== undefined && rng() < opts.throttleRate
    const deployment = p.deployments.find((x) => x.id === d.deploymentId)!
    sends.push({ at: time.now, id: d.deploymentId, counted: !throttled, tokens: throttled ? 0 : settledTokens(deployment, usage) })
    const outcome =
      result === 'unavailable'
        ? { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'unavailable' as const, status: 503 } }
        : throttled
          ? { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'throttled' as const, status: 429, errorType: 'ThrottlingException' } }
          : { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success' as const, status: 200 }, usage, latencyMs: 500 }
    const answer = async () => {
      if (opts.answerMs) await new Promise<void>((resolve) => time.timer(opts.answerMs!, resolve))
      await stores[i].report(p, outcome).catch(() => {})
    }
    pending.push(answer())
    return d.deploymentId
  }
  /** The most a deployment's (or a group's) counted sends (requests, or tokens) ever held in a sliding 60 s (what Bedrock counts). */
  function peakWindow(id: string | string[], of: 'requests' | 'tokens' = 'requests') {
    const ids = new Set(typeof id === 'string' ? [id] : id)
    const xs = sends.filter((s) => ids.has(s.id) && s.counted)
    let peak = 0
    let sum = 0
    for (let a = 0, b = 0; b < xs.length; b++) {
      sum += of === 'requests' ? 1 : xs[b].tokens
      while (xs[b].at - xs[a].at >= 60_000) {
        sum -= of === 'requests' ? 1 : xs[a].tokens
        a++
      }
      peak = Math.max(peak, sum)
    }
    return peak
  }
  const counters = () => stores.map((s) => s.counters())
  /** Calls the isolates made to the object (renewals and asks), and decisions made within slices. */
  function calls() {
    const c = counters()
    const sum = (k: string) => c.reduce((s, x) => s + (x[k] ?? 0), 0)
    return { asked: sum('objectDecisions'), renewals: sum('renewals'), local: sum('leaseDecisions') }
  }
  return { time, object, stores, sends, request, peakWindow, counters, calls, pending }
}

/**
 * `rps` requests per second for `seconds`, in 10 ms steps, each to an isolate drawn with Zipf weights of exponent
 * `skew` (0: even); then `settleMs` (default 5 s) more for the last answers and renewals.
 */
export async function drive(w: LeaseWorld, opts: { rps: number; seconds: number; skew?: number; seed?: number; settleMs?: number }) {
  const rng = mulberry32(opts.seed ?? 7)
  const weights = w.stores.map((_, i) => 1 / (i + 1) ** (opts.skew ?? 0))
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative = weights.map(((sum) => (x: number) => (sum += x / total))(0))
  const pick = () => {
    const u = rng()
    let i = 0
    while (i < cumulative.length - 1 && cumulative[i] < u) i++
    return i
  }
  const start = w.time.now
  const results: Promise<string>[] = []
  for (let t = 0; t < opts.seconds * 1000; t += 10) {
    await w.time.advance(start + t)
    let n = Math.floor(opts.rps / 100)
    if (rng() < opts.rps / 100 - n) n++
    for (let k = 0; k < n; k++) {
      const r = w.request(pick())
      w.pending.push(r)
      results.push(r)
    }
  }
  await w.time.advance(w.time.now + (opts.settleMs ?? 5000)) // the last answers and renewals land
  return Promise.all(results)
}
