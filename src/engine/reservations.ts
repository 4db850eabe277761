/**
 * The quota one request holds, settled exactly once. Every reservation the engine acquires ends in one of two
 * ways: reported to the store (`settle`), or handed to the next `acquire` as `previous`, which records it in the
 * same round trip (`handOver`). Settled twice, a window would be credited twice; never settled, the quota would
 * stay held until the window forgets it. Whatever the path — served, failed over, refused, client gone — the
 * ledger ignores a second settlement of the same reservation.
 */
import type { PoolConfig } from '../config/types'
import type { AttemptOutcome, Reservation } from '../routing/types'
import type { StateStore } from '../state/types'
import { CLIENT_GONE } from './attempt'

export class ReservationLedger {
  private readonly settled = new WeakSet<Reservation>()
  private held?: { deploymentId: string; reservation: Reservation }

  constructor(
    private readonly store: StateStore,
    private readonly pool: PoolConfig,
    private readonly waitUntil: (promise: Promise<unknown>) => void,
  ) {}

  /** The reservation of the attempt now being made. */
  hold(deploymentId: string, reservation: Reservation) {
    this.held = { deploymentId, reservation }
  }

  /** Records an attempt's outcome off the request path, unless its reservation is already settled. */
  settle(outcome: AttemptOutcome) {
    if (outcome.reservation) {
      if (this.settled.has(outcome.reservation)) return
      this.settled.add(outcome.reservation)
    }
    this.waitUntil(this.store.report(this.pool, outcome).catch((e) => console.error(JSON.stringify({ msg: 'state report failed', error: String(e) }))))
  }

  /** `outcome` goes to the next acquire as `previous`, which records it: it must not be reported as well. */
  handOver(outcome: AttemptOutcome | undefined): AttemptOutcome | undefined {
    if (outcome?.reservation) {
      if (this.settled.has(outcome.reservation)) return undefined
      this.settled.add(outcome.reservation)
    }
    return outcome
  }

  /** Gives the held reservation back: the attempt was not made or its outcome says nothing about the deployment. */
  release(why: string) {
    if (this.held) this.settle({ deploymentId: this.held.deploymentId, reservation: this.held.reservation, result: { ...CLIENT_GONE, message: why } })
  }
}
