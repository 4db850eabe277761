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
import { LeaseStateStore, type LeaseClock } from '../src/state/leases'
import { MemoryStateStore } from '../src/state/memory'

export const WORLD_T0 = 1_700_000_000_000
export const WORLD_USAGE: TokenUsage = { inputTokens: 100, outputTokens: 50 }

export class VirtualTime {
  now = WORLD_T0
  private timers: Array<{ at: number; resolve: () => void }> = []
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

export function leaseWorld(p: PoolConfig, isolates: number) {
  const time = new VirtualTime()
  const object = new MemoryStateStore(() => time.now, mulberry32(99))
  const stores = Array.from({ length: isolates }, (_, i) => new LeaseStateStore(object, time.clock(i + 1)))
  const sends: Array<{ at: number; id: string }> = []
  const pending: Promise<void>[] = []
  /** One request on isolate `i`: decided, sent, answered at once with `result` (success by default). */
  async function request(i: number, result: 'success' | 'unavailable' = 'success') {
    const d = await stores[i].acquire(p, { inputTokens: 100, maxTokens: 50, stream: false }, [])
    if (d.kind !== 'dispatch') return 'refused'
    sends.push({ at: time.now, id: d.deploymentId })
    const outcome =
      result === 'success'
        ? { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'success' as const, status: 200 }, usage: WORLD_USAGE, latencyMs: 500 }
        : { deploymentId: d.deploymentId, reservation: d.reservation, result: { class: 'unavailable' as const, status: 503 } }
    pending.push(stores[i].report(p, outcome))
    return d.deploymentId
  }
  /** The most a deployment's sends ever held in a sliding 60 s (what Bedrock counts). */
  function peakWindow(id: string) {
    const at = sends.filter((s) => s.id === id).map((s) => s.at)
    let peak = 0
    for (let a = 0, b = 0; b < at.length; b++) {
      while (at[b] - at[a] >= 60_000) a++
      peak = Math.max(peak, b - a + 1)
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
 * `skew` (0: even).
 */
export async function drive(w: LeaseWorld, opts: { rps: number; seconds: number; skew?: number; seed?: number }) {
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
  const results: string[] = []
  for (let t = 0; t < opts.seconds * 1000; t += 10) {
    await w.time.advance(start + t)
    let n = Math.floor(opts.rps / 100)
    if (rng() < opts.rps / 100 - n) n++
    for (let k = 0; k < n; k++) results.push(await w.request(pick()))
  }
  return results
}
