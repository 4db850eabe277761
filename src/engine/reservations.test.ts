/**
 * ReservationLedger on its own, with a fake store: each reservation reaches the store at most once, whichever of
 * settle / handOver / release comes first; a second settlement of the same reservation is ignored.
 */
import { describe, expect, it, vi } from 'vitest'
import { parseRouterConfig } from '../config/schema'
import type { PoolConfig } from '../config/types'
import type { AttemptOutcome, Decision, Reservation } from '../routing/types'
import type { StateStore } from '../state/types'
import { CLIENT_GONE } from './attempt'
import { ReservationLedger } from './reservations'

const pool: PoolConfig = parseRouterConfig({
  pools: { ledger: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }] } },
}).pools.ledger

class FakeStore implements StateStore {
  readonly reports: AttemptOutcome[] = []
  failReports = false
  async acquire(): Promise<Decision> {
    throw new Error('the ledger never acquires')
  }
  async report(_pool: PoolConfig, outcome: AttemptOutcome) {
    this.reports.push(outcome)
    if (this.failReports) throw new Error('store down')
  }
  async snapshot() {
    return {}
  }
  async addStats() {}
  async readStats() {
    return { rows: [], failovers: [] }
  }
}

let at = 0
const reservation = (deploymentId = 'a'): Reservation => ({ deploymentId, at: ++at, tokens: 100 })
const outcome = (r: Reservation, cls: AttemptOutcome['result']['class'] = 'unavailable'): AttemptOutcome => ({
  deploymentId: r.deploymentId,
  reservation: r,
  result: { class: cls, status: cls === 'success' ? 200 : 503 },
})

function setup() {
  const store = new FakeStore()
  const pending: Promise<unknown>[] = []
  const ledger = new ReservationLedger(store, pool, (p) => pending.push(p))
  return { store, ledger, pending, drained: () => Promise.all(pending) }
}

describe('ReservationLedger', () => {
  it('settles a reservation once: a second settle of it reports nothing', async () => {
    const { store, ledger, pending, drained } = setup()
    const r = reservation()
    ledger.settle(outcome(r, 'success'))
    ledger.settle(outcome(r, 'success'))
    ledger.settle(outcome(r, 'unavailable')) // even with another result
    await drained()
    expect(store.reports).toHaveLength(1)
    expect(store.reports[0].result.class).toBe('success')
    expect(pending).toHaveLength(1) // the report went through waitUntil, once
  })

  it('settles distinct reservations independently', async () => {
    const { store, ledger, drained } = setup()
    const [r1, r2] = [reservation(), reservation()]
    ledger.settle(outcome(r1))
    ledger.settle(outcome(r2))
    ledger.settle(outcome(r1))
    await drained()
    expect(store.reports.map((o) => o.reservation)).toEqual([r1, r2])
  })

  it('hands an outcome over once: after a settle, handOver gives undefined', async () => {
    const { store, ledger, drained } = setup()
    const r = reservation()
    ledger.settle(outcome(r))
    expect(ledger.handOver(outcome(r))).toBeUndefined()
    await drained()
    expect(store.reports).toHaveLength(1)
  })

  it('after a handOver, neither a settle nor a second handOver of the same reservation goes anywhere', async () => {
    const { store, ledger, pending, drained } = setup()
    const r = reservation()
    const o = outcome(r)
    expect(ledger.handOver(o)).toBe(o)
    expect(ledger.handOver(o)).toBeUndefined()
    ledger.settle(o)
    await drained()
    expect(store.reports).toHaveLength(0)
    expect(pending).toHaveLength(0)
  })

  it('handOver(undefined) is undefined and marks nothing', async () => {
    const { store, ledger, drained } = setup()
    expect(ledger.handOver(undefined)).toBeUndefined()
    await drained()
    expect(store.reports).toHaveLength(0)
  })

  it('release with nothing held reports nothing', async () => {
    const { store, ledger, pending, drained } = setup()
    ledger.release('the client went away')
    await drained()
    expect(store.reports).toHaveLength(0)
    expect(pending).toHaveLength(0)
  })

  it('release gives the held reservation back once, as neutral for the deployment, with the reason', async () => {
    const { store, ledger, drained } = setup()
    const r = reservation()
    ledger.hold('a', r)
    ledger.release('the client left while queued')
    ledger.release('the client went away')
    await drained()
    expect(store.reports).toHaveLength(1)
    expect(store.reports[0]).toEqual({ deploymentId: 'a', reservation: r, result: { ...CLIENT_GONE, message: 'the client left while queued' } })
  })

  it('release after the held reservation was settled reports nothing more', async () => {
    const { store, ledger, drained } = setup()
    const r = reservation()
    ledger.hold('a', r)
    ledger.settle(outcome(r, 'success'))
    ledger.release('the client went away')
    await drained()
    expect(store.reports).toHaveLength(1)
    expect(store.reports[0].result.class).toBe('success')
  })

  it('release after the held reservation was handed over reports nothing', async () => {
    const { store, ledger, drained } = setup()
    const r = reservation()
    ledger.hold('a', r)
    expect(ledger.handOver(outcome(r))).toBeDefined()
    ledger.release('the client went away')
    await drained()
    expect(store.reports).toHaveLength(0)
  })

  it('release gives back the reservation held now, not an earlier one', async () => {
    const { store, ledger, drained } = setup()
    const [r1, r2] = [reservation('a'), reservation('b')]
    ledger.hold('a', r1)
    ledger.handOver(outcome(r1))
    ledger.hold('b', r2)
    ledger.release('the client went away')
    await drained()
    expect(store.reports).toHaveLength(1)
    expect(store.reports[0].reservation).toBe(r2)
    expect(store.reports[0].deploymentId).toBe('b')
  })

  it('a settle after release of the same reservation is ignored', async () => {
    const { store, ledger, drained } = setup()
    const r = reservation()
    ledger.hold('a', r)
    ledger.release('the client went away')
    ledger.settle(outcome(r, 'unavailable'))
    expect(ledger.handOver(outcome(r))).toBeUndefined()
    await drained()
    expect(store.reports).toHaveLength(1)
    expect(store.reports[0].result.status).toBe(499)
  })

  it('a failing store report is logged, not thrown into waitUntil', async () => {
    const { store, ledger, pending } = setup()
    store.failReports = true
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      ledger.settle(outcome(reservation()))
      await expect(Promise.all(pending)).resolves.toBeDefined()
      expect(error).toHaveBeenCalledTimes(1)
      expect(String(error.mock.calls[0][0])).toContain('state report failed')
    } finally {
      error.mockRestore()
    }
  })
})
