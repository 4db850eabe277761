import { describe, expect, it } from 'vitest'
import { centralModel, leaseModel, type LeaseScenario } from './leases'

const base: LeaseScenario = { isolates: 100, rps: 5000, rpm: 300_000, skew: 1, seconds: 90, seed: 3, renewMs: 500, sliceFactor: 1.5, fullBackoffMs: 100 }

describe('leases (virtual time)', () => {
  for (const quotaShare of [0.8, 1, 1.5]) {
    it(`100 isolates at 5,000 req/s, quota ${quotaShare}× the load: never over the quota, ≥ 98 % of what one object per request serves, ≤ 0.1 calls per request`, () => {
      const s = { ...base, rpm: Math.round(base.rps * 60 * quotaShare) }
      const central = centralModel(s)
      const leases = leaseModel(s)
      expect(leases.peakWindowShare).toBeLessThanOrEqual(1)
      expect(leases.served / central.served).toBeGreaterThanOrEqual(0.98)
      expect(leases.callsPerRequest).toBeLessThan(0.1)
      expect(central.callsPerRequest).toBe(1)
    })
  }

  it('slices too large for the renewal strand capacity: the model shows it (a test that could fail does)', () => {
    const s = { ...base, rpm: base.rps * 60, sliceFactor: 8, renewMs: 2000 }
    expect(leaseModel(s).served / centralModel(s).served).toBeLessThan(0.98)
  })
})
