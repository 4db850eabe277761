/**
 * Section 5d: lease-based shared state in virtual time (simulation/leases.ts) against the design as built (one
 * object call per request), 10–100 isolates at 5,000 req/s in front of one deployment's quota.
 */
import { centralModel, leaseModel, type LeaseResult, type LeaseScenario } from '../simulation/leases'
import { drive, leaseWorld, WORLD_T0 } from '../simulation/lease-world'
import { deployment, pool } from '../src/routing/test-helpers'

export interface LeaseRow {
  isolates: number
  quotaShare: number
  skew: number
  central: LeaseResult
  leases: LeaseResult
}

export interface LeasesSection {
  settings: Pick<LeaseScenario, 'rps' | 'seconds' | 'renewMs' | 'sliceFactor' | 'fullBackoffMs'>
  seeds: number[]
  rows: LeaseRow[]
  /** The built code (src/state/leases.ts over the memory store's grant code), same load and quotas. */
  built?: BuiltLeaseRow[]
  /** The built code with `leases: "auto"` against leases off and on everywhere, at pool rates from cold to hot. */
  auto?: AutoLeaseRow[]
}

export interface AutoLeaseRow {
  isolates: number
  skew: number
  rps: number
  /** Per mode: object calls (renewals + asks) per request, share decided within a slice, sends after the first 60 s, peak window / quota. */
  modes: Record<'off' | 'on' | 'auto', { callsPerRequest: number; localShare: number; served: number; peakWindowShare: number }>
  /** Isolates leasing at the end of the auto run. */
  leasingIsolates: number
}

/**
 * `leases: "auto"` (src/state/leases.ts) in virtual time: 100 isolates at a pool rate from one request per isolate
 * per renewal period to 5,000 req/s, the quota 1.5× the load; the same load with leases off (one call per request)
 * and on in every isolate.
 */
export async function runAutoLeases(opts: { quick: boolean; log: (line: string) => void }): Promise<AutoLeaseRow[]> {
  const seconds = opts.quick ? 75 : 90
  const rows: AutoLeaseRow[] = []
  for (const c of [
    { isolates: 100, skew: 0, rps: 200 },
    { isolates: 100, skew: 1, rps: 1000 },
    { isolates: 100, skew: 1, rps: 5000 },
  ]) {
    const modes = {} as AutoLeaseRow['modes']
    let leasingIsolates = 0
    for (const mode of ['off', 'on', 'auto'] as const) {
      const leases = mode === 'off' ? {} : { leases: { renewMs: 500, sliceFactor: 1.5, ...(mode === 'auto' ? { auto: true as const } : {}) } }
      const p = pool([deployment('a', { rpm: Math.round(c.rps * 60 * 1.5) })], { strategy: 'rate-limit-aware', ...leases })
      const w = leaseWorld(p, c.isolates)
      const results = await drive(w, { rps: c.rps, seconds, skew: c.skew, seed: 1 })
      const calls = w.calls()
      // Leases off: the stores pass every request to the object (one call each), uncounted by them.
      const callsPerRequest = mode === 'off' ? 1 : (calls.asked + calls.renewals) / results.length
      modes[mode] = { callsPerRequest, localShare: calls.local / results.length, served: w.sends.filter((s) => s.at >= WORLD_T0 + 60_000).length, peakWindowShare: w.peakWindow('a') / p.deployments[0].rpm! }
      if (mode === 'auto') leasingIsolates = w.counters().filter((x) => (x.autoOn ?? 0) > (x.autoOff ?? 0)).length
    }
    rows.push({ ...c, modes, leasingIsolates })
    opts.log(`  leases auto, ${c.isolates} isolates, skew ${c.skew}, ${c.rps} req/s: calls/req off 1, on ${modes.on.callsPerRequest.toFixed(3)}, auto ${modes.auto.callsPerRequest.toFixed(3)} (${leasingIsolates} leasing)`)
  }
  return rows
}

export interface BuiltLeaseRow {
  isolates: number
  quotaShare: number
  skew: number
  renewMs: number
  /** Requests after the first 60 s, and how many of them were sent: with leases and with one object call per request. */
  requests: number
  servedLeases: number
  servedCentral: number
  /** Renewals and on-path asks per request (leases), and the share decided within a slice. */
  callsPerRequest: number
  askedPerRequest: number
  localShare: number
  peakWindowShare: number
}

/**
 * The built code in virtual time (simulation/lease-world.ts): N isolates' LeaseStateStores, one deployment whose rpm is
 * a share of the load, every request answered at once; the same run with the pool's leases off is the baseline.
 */
export async function runBuiltLeases(opts: { quick: boolean; log: (line: string) => void }): Promise<BuiltLeaseRow[]> {
  const rps = 5000
  const seconds = opts.quick ? 90 : 120
  const rows: BuiltLeaseRow[] = []
  const cases: Array<{ isolates: number; skew: number; renewMs: number }> = [
    { isolates: 10, skew: 0, renewMs: 500 },
    { isolates: 100, skew: 0, renewMs: 500 },
    { isolates: 100, skew: 1, renewMs: 500 },
    { isolates: 100, skew: 0, renewMs: 250 },
  ]
  for (const c of cases) {
    for (const quotaShare of c.renewMs === 500 ? [0.8, 1, 1.5] : [1]) {
      const served = async (leases: boolean) => {
        const p = pool([deployment('a', { rpm: Math.round(rps * 60 * quotaShare) })], { strategy: 'rate-limit-aware', ...(leases ? { leases: { renewMs: c.renewMs, sliceFactor: 1.5 } } : {}) })
        const w = leaseWorld(p, c.isolates)
        const results = await drive(w, { rps, seconds, skew: c.skew, seed: 1 })
        const calls = w.calls()
        return { requests: results.length, measured: w.sends.filter((s) => s.at >= WORLD_T0 + 60_000).length, peak: w.peakWindow('a') / p.deployments[0].rpm!, calls }
      }
      const central = await served(false)
      const leased = await served(true)
      const row: BuiltLeaseRow = {
        ...c,
        quotaShare,
        requests: Math.round(rps * (seconds - 60)),
        servedLeases: leased.measured,
        servedCentral: central.measured,
        callsPerRequest: (leased.calls.asked + leased.calls.renewals) / leased.requests,
        askedPerRequest: leased.calls.asked / leased.requests,
        localShare: leased.calls.local / leased.requests,
        peakWindowShare: leased.peak,
      }
      rows.push(row)
      opts.log(`  leases (built), ${c.isolates} isolates, skew ${c.skew}, renew ${c.renewMs} ms, quota ${quotaShare}× load: ${((100 * row.servedLeases) / row.servedCentral).toFixed(2)} % of one object per request, ${row.callsPerRequest.toFixed(4)} calls/req, peak ${row.peakWindowShare.toFixed(4)}`)
    }
  }
  return rows
}

export function runLeases(opts: { seeds: number[]; log: (line: string) => void }): LeasesSection {
  const settings = { rps: 5000, seconds: 120, renewMs: 500, sliceFactor: 1.5, fullBackoffMs: 100 }
  const rows: LeaseRow[] = []
  for (const skew of [0, 1]) {
    for (const isolates of [10, 30, 100]) {
      for (const quotaShare of [0.8, 1, 1.5]) {
        const runs = opts.seeds.map((seed) => {
          const s: LeaseScenario = { ...settings, isolates, skew, seed, rpm: Math.round(settings.rps * 60 * quotaShare) }
          return { central: centralModel(s), leases: leaseModel(s) }
        })
        // The worst seed: served share lowest, calls highest.
        const worst = runs.reduce((a, b) => (b.leases.served / b.central.served < a.leases.served / a.central.served ? b : a))
        rows.push({ isolates, quotaShare, skew, ...worst })
      }
    }
    opts.log(`  leases, skew ${skew}: ${rows.filter((r) => r.skew === skew).map((r) => `${r.isolates}×${r.quotaShare}: ${((100 * r.leases.served) / r.central.served).toFixed(1)} %, ${r.leases.callsPerRequest.toFixed(3)} calls/req`).join('; ')}`)
  }
  return { settings, seeds: opts.seeds, rows }
}
