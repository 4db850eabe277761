/**
 * Virtual-time model of lease-based shared state (docs/state-design.md, "Past one object: leases"): many isolates
 * in front of one deployment whose quota is `rpm` requests per sliding 60 s, compared with the shared state as
 * built (every request asks the one object, which counts exactly).
 *
 * Leases: the object grants an isolate a slice of the window's free capacity (requests it may send without asking)
 * valid until the slice's expiry; the isolate spends it locally and renews in the background every `renewMs`,
 * reporting what it sent and returning what it did not. The object counts every outstanding slice as taken, so the
 * window can never be overrun — the cost is capacity stranded in slices an isolate does not use in time, which can
 * make a request wait for (or, at the limit, be refused) capacity another isolate holds. When a slice is spent
 * before its renewal, the isolate asks at once (a round trip on the request's path, like the built design's).
 *
 * Pure and deterministic for a seed; requests only (tokens behave the same with a token slice).
 */
import { mulberry32 } from '../src/routing/random'

export interface LeaseScenario {
  isolates: number
  /** Offered load over all isolates, requests/s. */
  rps: number
  /** The deployment's quota, requests per 60 s. */
  rpm: number
  /** Isolates' shares of the load: Zipf exponent (0 = even; 1 = the busiest isolate takes far more). */
  skew: number
  /** Virtual seconds simulated (the first 60 s fill the window and are not measured). */
  seconds: number
  seed: number
  /** Background renewal period, ms. */
  renewMs: number
  /** A slice covers this many renewal periods of the isolate's recent rate (headroom for bursts). */
  sliceFactor: number
  /** After the object answered "full", an isolate refuses locally for this long before asking again, ms. */
  fullBackoffMs: number
}

export interface LeaseResult {
  mode: 'one object per request' | 'leases'
  /** Requests measured (after the first 60 s) and how many were sent upstream. */
  requests: number
  served: number
  /** Calls to the object per request (acquires; leases: renewals + on-path asks). */
  callsPerRequest: number
  /** On-path calls per request: a request that waited for the object. */
  onPathPerRequest: number
  /** The most the window ever held, as a share of rpm (≤ 1: never overrun). */
  peakWindowShare: number
}

/** A 60 s sliding window counted in 100 ms slots. */
class Window {
  private readonly slots: number[] = new Array(600).fill(0)
  private slot = 0
  private total = 0
  advanceTo(tMs: number) {
    const s = Math.floor(tMs / 100)
    while (this.slot < s) {
      this.slot++
      const i = this.slot % 600
      this.total -= this.slots[i]
      this.slots[i] = 0
    }
  }
  add(n: number) {
    this.slots[this.slot % 600] += n
    this.total += n
  }
  get count() {
    return this.total
  }
}

function arrivals(s: LeaseScenario): Array<{ t: number; isolate: number }> {
  const rng = mulberry32(s.seed)
  const weights = Array.from({ length: s.isolates }, (_, i) => 1 / (i + 1) ** s.skew)
  const sum = weights.reduce((a, b) => a + b, 0)
  const out: Array<{ t: number; isolate: number }> = []
  for (let i = 0; i < s.isolates; i++) {
    const rate = (s.rps * weights[i]) / sum / 1000 // per ms
    for (let t = -Math.log(1 - rng()) / rate; t < s.seconds * 1000; t += -Math.log(1 - rng()) / rate) out.push({ t, isolate: i })
  }
  return out.sort((a, b) => a.t - b.t)
}

/** Today's design: every request makes one call, the object admits while the window has room. */
export function centralModel(s: LeaseScenario): LeaseResult {
  const w = new Window()
  let requests = 0
  let served = 0
  let peak = 0
  for (const a of arrivals(s)) {
    w.advanceTo(a.t)
    const measured = a.t >= 60_000
    if (measured) requests++
    if (w.count < s.rpm) {
      w.add(1)
      if (measured) served++
    }
    if (a.t >= 60_000) peak = Math.max(peak, w.count / s.rpm)
  }
  return { mode: 'one object per request', requests, served, callsPerRequest: 1, onPathPerRequest: 1, peakWindowShare: peak }
}

interface Lease {
  /** Requests it may still send, and the slice it was granted. */
  left: number
  granted: number
  /** Sent since the last renewal (reported at the next). */
  sent: number
  /** Arrivals since the last renewal, and the recent rate per ms (EWMA over renewals). */
  arrived: number
  rate: number
  lastRenew: number
  /** The object said the window is full: refuse locally until then instead of asking again for every request. */
  fullUntil: number
}

export function leaseModel(s: LeaseScenario): LeaseResult {
  const w = new Window()
  // The object's view: outstanding = what granted slices may still send (counted as taken).
  let outstanding = 0
  const leases: Lease[] = Array.from({ length: s.isolates }, () => ({ left: 0, granted: 0, sent: 0, arrived: 0, rate: 0, lastRenew: 0, fullUntil: 0 }))
  let requests = 0
  let served = 0
  let peak = 0
  let measuredCalls = 0
  let measuredOnPath = 0
  /** One renewal (a call): sends already counted; return the unused part; grant a new slice from the free capacity. */
  const renew = (l: Lease, t: number, need: number) => {
    w.advanceTo(t)
    if (t >= 60_000) measuredCalls++
    outstanding -= l.left
    l.left = 0
    l.sent = 0
    const elapsed = t - l.lastRenew
    if (elapsed > 0) l.rate = 0.5 * l.rate + 0.5 * (l.arrived / elapsed)
    l.arrived = 0
    const free = Math.max(0, s.rpm - w.count - outstanding)
    const want = Math.max(need, Math.ceil(l.rate * s.renewMs * s.sliceFactor))
    l.granted = Math.min(free, want)
    l.left = l.granted
    outstanding += l.granted
    l.lastRenew = t
    if (l.granted === 0) l.fullUntil = t + s.fullBackoffMs
  }
  const events = arrivals(s)
  let nextTick = 0
  for (const a of events) {
    // Background renewals of every isolate, each renewMs (staggered by isolate).
    while (nextTick <= a.t) {
      for (let i = 0; i < s.isolates; i++) {
        const l = leases[i]
        if (nextTick - l.lastRenew >= s.renewMs) renew(l, nextTick, 0)
      }
      nextTick += s.renewMs / 4
    }
    w.advanceTo(a.t)
    const l = leases[a.isolate]
    l.arrived++
    const measured = a.t >= 60_000
    if (measured) requests++
    if (l.left === 0 && a.t >= l.fullUntil) {
      // Spent before its renewal: ask now (on the request's path).
      if (measured) measuredOnPath++
      renew(l, a.t, 1)
    }
    if (l.left > 0) {
      l.left--
      l.sent++
      outstanding--
      w.add(1)
      if (measured) served++
    }
    if (measured) peak = Math.max(peak, (w.count + 0) / s.rpm)
  }
  return { mode: 'leases', requests, served, callsPerRequest: measuredCalls / Math.max(1, requests), onPathPerRequest: measuredOnPath / Math.max(1, requests), peakWindowShare: peak }
}
