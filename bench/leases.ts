/**
 * Section 5d: lease-based shared state in virtual time (simulation/leases.ts) against the design as built (one
 * object call per request), 10–100 isolates at 5,000 req/s in front of one deployment's quota.
 */
import { centralModel, leaseModel, type LeaseResult, type LeaseScenario } from '../simulation/leases'

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
