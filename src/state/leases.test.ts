/**
 * The lease protocol end to end in virtual time: several isolates' LeaseStateStores in front of one object (the
 * memory store, which runs the same grant code as the Durable Object). What must hold: no window is ever overrun
 * by what the isolates send, most decisions need no call, the isolates together serve what the quota allows, the
 * breaker one isolate opened reaches the others, and slices are given back when traffic stops.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, parseRouterConfig } from '../config/schema'
import type { PoolConfig } from '../config/types'
import { settledTokens } from '../routing/quota'
import { deployment, pool, T0, USAGE } from '../routing/test-helpers'
import type { DeploymentSnapshot } from '../routing/types'
import { drive, leaseWorld } from '../../simulation/lease-world'

const leased = (rpm: number, extra: Partial<PoolConfig> = {}) =>
  pool([deployment('a', { rpm }), deployment('b', { rpm })], { strategy: 'rate-limit-aware', leases: { renewMs: 500, sliceFactor: 1.5 }, ...extra })

describe('leases over one object', () => {
  it('under the quota: every request served, the windows never overrun, and ≥ 90 % of decisions make no call', async () => {
    const w = leaseWorld(leased(6000), 8)
    const results = await drive(w, { rps: 100, seconds: 90 }) // 6,000 requests a minute over two deployments of 6,000 rpm each
    expect(results.filter((r) => r === 'refused')).toHaveLength(0)
    expect(w.peakWindow('a')).toBeLessThanOrEqual(6000)
    expect(w.peakWindow('b')).toBeLessThanOrEqual(6000)
    const c = w.counters()
    const local = c.reduce((s, x) => s + x.leaseDecisions, 0)
    const asked = c.reduce((s, x) => s + x.objectDecisions, 0)
    expect(local + asked).toBe(results.length)
    expect(local / results.length).toBeGreaterThan(0.9)
    const renewals = c.reduce((s, x) => s + x.renewals, 0)
    // 8 isolates × 2 renewals a second × 90 s, at most: far fewer calls than requests (9,000).
    expect(renewals).toBeLessThanOrEqual(8 * 2 * 90 + 8)
    expect((asked + renewals) / results.length).toBeLessThan(0.3)
  })

  it('over the quota: no deployment ever gets more than its rpm in any 60 s, and the isolates serve ≥ 97 % of what one object per request serves', async () => {
    const served = async (p: PoolConfig) => {
      const w = leaseWorld(p, 8)
      await drive(w, { rps: 60, seconds: 150 }) // 3,600 a minute against 2 × 600
      expect(w.peakWindow('a')).toBeLessThanOrEqual(600)
      expect(w.peakWindow('b')).toBeLessThanOrEqual(600)
      return w.sends.filter((s) => s.at >= T0 + 60_000).length
    }
    const central = await served(leased(600, { leases: undefined }))
    const leases = await served(leased(600))
    expect(central).toBeGreaterThan(2000) // the baseline itself serves the quota (the first minute's sends leave during it)
    expect(leases).toBeGreaterThanOrEqual(central * 0.97)
  })

  it('a breaker opened by one isolate keeps the others away after their renewal', async () => {
    const p = leased(60_000, { strategy: 'weighted' })
    const w = leaseWorld(p, 2)
    await drive(w, { rps: 40, seconds: 2 }) // both isolates hold slices of both deployments
    for (let k = 0; k < 6; k++) {
      const d = await w.stores[0].acquire(p, { inputTokens: 100, maxTokens: 50, stream: false }, ['b'])
      expect(d.kind).toBe('dispatch')
      if (d.kind !== 'dispatch') continue
      await w.stores[0].report(p, { deploymentId: 'a', reservation: d.reservation, result: { class: 'unavailable', status: 503 } }).catch(() => {})
    }
    await w.time.advance(w.time.now + 1200) // isolate 0 renews (its failures reach the object); isolate 1 renews
    const snap = (await w.object.snapshot(p)) as DeploymentSnapshot[]
    expect(snap.find((d) => d.id === 'a')!.breaker).toBe('open')
    const later: string[] = []
    for (let k = 0; k < 40; k++) later.push(await w.request(1))
    expect(later.filter((id) => id === 'a')).toHaveLength(0)
  })

  it('when traffic stops, the slices are given back: the window holds what was sent, nothing more', async () => {
    const p = leased(10_000)
    const w = leaseWorld(p, 4)
    await drive(w, { rps: 200, seconds: 5 })
    await w.time.advance(w.time.now + 3000)
    await Promise.all(w.pending)
    const snap = (await w.object.snapshot(p)) as DeploymentSnapshot[]
    const inWindow = snap.reduce((s, d) => s + d.window.requests, 0)
    expect(inWindow).toBe(w.sends.length)
    // Tokens settled to what the attempts used, nothing held for unused slices.
    const tokens = snap.reduce((s, d) => s + d.window.tokens, 0)
    expect(tokens).toBe(w.sends.length * settledTokens(p.deployments[0], USAGE))
  })

  it('a pool without leases goes to the object for every request, as before', async () => {
    const p = pool([deployment('a', { rpm: 100 })])
    const w = leaseWorld(p, 1)
    for (let k = 0; k < 10; k++) await w.request(0)
    expect(w.counters()[0]).toMatchObject({ leaseDecisions: 0, objectDecisions: 0, renewals: 0 })
    const snap = (await w.object.snapshot(p)) as DeploymentSnapshot[]
    expect(snap[0].window.requests).toBe(10)
  })
})

describe('the leases option', () => {
  const problems = (leases: unknown, extra: Record<string, unknown> = {}): string[] => {
    try {
      parseRouterConfig({ pools: { p: { strategy: 'rate-limit-aware', leases, deployments: [{ id: 'a', modelId: 'm', region: 'us-east-1', rpm: 10, ...extra }] } } })
      return []
    } catch (e) {
      if (e instanceof ConfigError) return e.problems
      throw e
    }
  }
  it('true takes the simulated settings; an object sets them; bad values and what slices cannot share are refused', () => {
    const { pools } = parseRouterConfig({ pools: { p: { strategy: 'rate-limit-aware', leases: true, deployments: [{ id: 'a', modelId: 'm', region: 'us-east-1', rpm: 10 }] } } })
    expect(pools.p.leases).toEqual({ renewMs: 500, sliceFactor: 1.5 })
    expect(parseRouterConfig({ pools: { p: { strategy: 'weighted', leases: false, deployments: [{ id: 'a', modelId: 'm', region: 'us-east-1' }] } } }).pools.p.leases).toBeUndefined()
    expect(problems({ renewMs: 250, sliceFactor: 2 })).toEqual([])
    expect(problems({ renewMs: 10 })[0]).toMatch(/renewMs must be ≥ 50/)
    expect(problems({ sliceFactor: 0.5 })[0]).toMatch(/sliceFactor must be ≥ 1/)
    expect(problems('yes')[0]).toMatch(/leases must be true, false or/)
    expect(problems(true, { tokensPerDay: 1000 })[0]).toMatch(/deployments\[0\]: tokensPerDay cannot be used in a pool with leases yet/)
    expect(problems(true, { budgetUsdPerDay: 5, quotaGroup: 'g' })[0]).toMatch(/budgetUsdPerDay, quotaGroup cannot be used/)
  })
})
