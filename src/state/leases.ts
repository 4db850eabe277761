/**
 * Leases, the isolate's side (routing/lease.ts is the object's; docs/state-design.md, "Past one object: leases").
 * For a pool with `leases`, this store decides on the isolate, with the same routing core, on a local copy of the
 * pool's state: the object's view of every deployment as of the last renewal, plus this isolate's own attempts since.
 * A decision is kept only when it fits the slice the object granted for its deployment and needs nothing the object
 * must coordinate (a probe, a queued or paced send): every other request asks the object, exactly as without leases,
 * so a slice never changes which deployment a request goes to, only whether the object is asked.
 *
 * Renewal runs off the request's path: the report of a finished attempt starts it (in that request's `waitUntil`)
 * once `renewMs` has passed since the last one. It closes the current slices (their unused parts released, their
 * sends counted in the slots they were sent in), sends what this isolate's attempts settled and how they ended, and
 * asks for slices sized on the isolate's recent demand (`sliceFactor` renewal periods of its sends and refusals, plus
 * room for a burst). Requests arriving while it is in flight ask the object. A round after traffic stops asks for
 * nothing and so releases what was held.
 *
 * No promise is shared between requests (Workers does not allow it): state is plain data; whichever request renews
 * writes the answer into it.
 */
import type { DeploymentConfig, LeaseSettings, PoolConfig } from '../config/types'
import { burndownOf } from '../routing/models'
import { createPoolState, record, type PoolState } from '../routing/core'
import type { LeaseAnswer, LeaseGrant, LeaseReport, LeaseWant, LedgerDelta, LedgerKind, UsageDelta } from '../routing/lease'
import { affinityHintOf, affinityOf, FORGET_KEEP_MS, holdAffinity, mergeAffinity, MAX_AFFINITY_LOG, type AffinityHeld } from '../routing/affinity'
import { attemptCostUsd, budgetsOf, reservedUsd } from '../routing/budget'
import { maxSettledTokens } from '../routing/quota'
import { dayTokensUsed } from '../routing/day-tokens'
import { settlementOf } from '../routing/record'
import { deploymentState, usageOf } from '../routing/state'
import type { AttemptOutcome, Decision, RequestEstimate, Reservation } from '../routing/types'
import { addUsage, slotOf } from '../routing/window'
import type { StatsBatch } from '../stats/rollup'
import { acquireOn } from './apply'
import { fingerprintOf } from './pool-ref'
import type { LeaseBackend, StateStore, StatsRead } from './types'

/** A slice as the isolate spends it. */
interface Slice extends LeaseGrant {
  /** Local time after which nothing may be sent under it (from before the renewal was asked: never later than the object's). */
  until: number
  sentRequests: number
  sentTokens: number
  /** Object time = local time + this: the midpoint estimate plus half the round trip (never earlier than the object's clock). */
  offset: number
  /** What was sent under it, by window slot in the object's time (first and last send, requests, reserved tokens). */
  bySlot: Map<number, { first: number; last: number; requests: number; tokens: number }>
  /**
   * Its shares of the deployment's period ledgers (a day quota, budgets): what it holds, the most its sends may use of
   * it (ledgerCostsOf) in all and by second of the object's time (the ledger's hold slots).
   */
  ledgers?: Partial<Record<LedgerKind, SliceLedger>>
  /**
   * Its close was sent in a renewal that failed (or it was dropped with a changed config): whether the object counted
   * its sends is unknown, so its attempts' settlements may only add to the window, never take from it.
   */
  lost?: boolean
}

interface SliceLedger {
  held: number
  sent: number
  bySecond: Map<number, number>
}

/** One attempt decided under a slice, settled: the window's change and each ledger's share and real use. */
interface PendingSettlement {
  slice: Slice
  deploymentId: string
  /** When it was sent, in the object's time. */
  at: number
  change: { requests: number; tokens: number } | null
  ledgers: Array<{ kind: LedgerKind; cost: number; used: number }>
}

interface PoolLease {
  /** The config the slices were granted for (fingerprintOf): a changed config starts afresh. */
  fingerprint: string
  state: PoolState
  slices: Map<string, Slice>
  /**
   * For the object at the next renewal: the settlements of attempts decided under slices, and outcomes. What a
   * settlement gives back is decided when the report is built, not when the attempt ended: by then it is known whether
   * the renewal that closed its slice reached the object (Slice.lost).
   */
  settled: PendingSettlement[]
  /** Slices to close at the next renewal without spending them: those of an earlier config (leaseOf), or granted to a retired lease. */
  closing: Slice[]
  /** The lease settings last in force: what a renewal after leases were turned off flushes with. */
  settings?: LeaseSettings
  /** Replaced by a lease for a newer config: its renewer stops, what it still holds goes to the new one. */
  retired?: boolean
  /** The config it was last used with (what a shutdown's flush renews it with). */
  pool: PoolConfig
  outcomes: AttemptOutcome[]
  /** Sends by this isolate since `since` (under slices or through the object): what the next slices are sized on. */
  recent: Map<string, { requests: number; tokens: number; dayTokens: number; usd: number }>
  /** Requests refused as every window was full since `since`: demand the next slices are sized for too. */
  refused: number
  refusedTokens: number
  /** Their output caps (of refusedTokens): a day quota burns output down. */
  refusedOutput: number
  since: number
  /** The object's last "every window is full" refusal, repeated without asking until `until` (for requests as large). */
  full?: { at: number; until: number; decision: Extract<Decision, { kind: 'reject' }>; tokens: number }
  /**
   * When a request's report started renewing (the others' reports leave it to that one); 0: none. Stale after
   * STALE_RENEWER_MS: a waitUntil the runtime cut off never clears it, and a stuck flag must not stop renewals for good.
   */
  renewingSince: number
  /**
   * Prompt-cache affinity holders this isolate's own decisions took since its last renewal (local time), for the object
   * to pass on to the other isolates; keyed by key and deployment.
   */
  affinityOut: Map<string, AffinityHeld>
  /** The object's affinity log position in the last answer: it sends only the changes after it. */
  affinitySince?: number
  /** Object time − local time, as of the last answer. */
  offset: number
}

export interface LeaseClock {
  now(): number
  sleep(ms: number): Promise<void>
  rng(): number
}

const realClock: LeaseClock = { now: Date.now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), rng: Math.random }
/** Outcomes kept for the next renewal while the object is unreachable (the oldest dropped). */
const MAX_QUEUED_OUTCOMES = 1000
/** How long the object's "every window is full" stands before a refused request asks again (simulated: no less served). */
const FULL_BACKOFF_MS = 100
/** Renewals one request's report may run in a row, and for how long at most (Workers ends a waitUntil 30 s after the response). */
const MAX_ROUNDS = 20
const MAX_RENEWING_MS = 10_000
const WARN_EVERY_MS = 10_000
/** A renewal call that has not answered by then is given up (its report counts as lost). */
const LEASE_CALL_TIMEOUT_MS = 2000
/** After this long a renewer is taken for gone and another report may renew. */
const STALE_RENEWER_MS = MAX_RENEWING_MS + LEASE_CALL_TIMEOUT_MS
/**
 * `leases: "auto"`: an isolate starts leasing a pool once it has made this many first attempts to it within one renewal
 * period, and stops after AUTO_OFF_PERIODS periods in a row with fewer than AUTO_OFF_PER_PERIOD. Leasing costs about
 * one object call per period (the renewal, and a give-back round after traffic stops) and saves one per request
 * decided locally (reports ride acquires either way): simulated (BENCHMARKS.md §5d), leasing everywhere costs 1.25
 * calls per request at one request per isolate and period, and 0.25 at a few. At 5 an isolate at one a period seldom
 * crosses the threshold by chance (at 4: 5 % more calls than never leasing); the gap to the off threshold keeps an
 * isolate near either from switching every period.
 */
export const AUTO_ON_PER_PERIOD = 5
export const AUTO_OFF_PER_PERIOD = 2
export const AUTO_OFF_PERIODS = 4

/** An isolate's own rate to one pool, for `leases: "auto"`: first attempts counted per renewal period. */
interface AutoLeasing {
  on: boolean
  periodStart: number
  count: number
  /** Periods in a row below AUTO_OFF_PER_PERIOD while on. */
  quiet: number
}

export class LeaseStateStore implements StateStore {
  private readonly pools = new Map<string, PoolLease>()
  /** Reservations decided under a slice → when they were sent, in the object's time (their settlement names that bucket), and the slice. */
  private readonly local = new WeakMap<Reservation, { at: number; slice: Slice; costs: LedgerCosts }>()
  /** One warning per WARN_EVERY_MS while renewals fail (an unreachable object would otherwise log twice a second). */
  private warnedAt = Number.NEGATIVE_INFINITY
  /** Names this isolate's affinity changes at the object, which hands them to every isolate but this one. */
  private readonly id = crypto.randomUUID().slice(0, 13)
  private readonly counts = { leaseDecisions: 0, objectDecisions: 0, fullDecisions: 0, renewals: 0, renewalFailures: 0, autoOn: 0, autoOff: 0 }
  /** Per pool with `leases: "auto"`: whether this isolate leases it now, by its own rate. */
  private readonly auto = new Map<string, AutoLeasing>()

  constructor(
    private readonly inner: StateStore & LeaseBackend,
    private readonly clock: LeaseClock = realClock,
  ) {}

  async acquire(pool: PoolConfig, estimate: RequestEstimate, tried: readonly string[], previous?: AttemptOutcome): Promise<Decision> {
    const fromSlice = previous?.reservation !== undefined && this.local.has(previous.reservation)
    const now = this.clock.now()
    const leasing = this.leasing(pool, now, tried.length === 0)
    if (!leasing && !fromSlice) {
      if (pool.leases) this.counts.objectDecisions++ // `auto`, not leasing now
      // Not awaited: the request need not wait for it (a refused one makes no report to carry it).
      void this.giveBackIdle(pool)?.catch(() => {})
      return this.inner.acquire(pool, estimate, tried, previous)
    }
    const lease = this.leaseOf(pool)
    let forObject = previous
    if (fromSlice) {
      this.settle(pool, lease, previous!, now)
      forObject = undefined
    } else if (previous) {
      // Decided by the object, which settles it; its failure counts in this isolate's next choice too.
      record(pool, lease.state, { ...previous, reservation: undefined, usage: undefined }, now)
    }
    if (!leasing) return this.inner.acquire(pool, estimate, tried, forObject) // leases turned off meanwhile
    const local = this.decideLocally(pool, lease, estimate, tried, now)
    if (local.decision) {
      this.counts.leaseDecisions++
      if (forObject) void this.inner.report(pool, forObject).catch(() => {}) // the object reserved it: it settles it
      return local.decision
    }
    if (lease.full && now < lease.full.until && !forObject && this.sameRefusal(lease.full, estimate, tried)) {
      // The object found every window full a moment ago: its refusal stands for FULL_BACKOFF_MS instead of every
      // refused request asking again (the window frees as old requests leave it, not faster).
      this.counts.fullDecisions++
      this.refusedOne(lease, estimate)
      return { ...lease.full.decision, retryAfterMs: Math.max(0, lease.full.decision.retryAfterMs - (now - lease.full.at)) }
    }
    this.counts.objectDecisions++
    const asked = await this.inner.acquire(pool, estimate, tried, forObject)
    if (asked.kind === 'dispatch') {
      const deployment = pool.deployments.find((d) => d.id === asked.deploymentId)
      this.sent(lease, asked.deploymentId, asked.reservation.tokens, (deployment && ledgerCostsOf(deployment, estimate, asked.reservation)) || {})
      // Local clock, as the local copy keeps; a grouped deployment's send is in its group's window (what decisions read).
      if (deployment) addUsage(usageOf(lease.state, deployment), now, 1, asked.reservation.tokens)
      // The object remembered its prompt-cache holder itself; the local copy learns it now, not at the next renewal.
      const hint = rememberingHint(pool, estimate)
      if (hint) {
        holdAffinity(lease.state, hint, tried, asked.deploymentId, now, affinityOf(pool).maxEntries)
        // The object logged the failed holders' forgets itself: this isolate's holds of them are not sent on.
        for (const { key } of hint.remember) for (const id of tried) lease.affinityOut.delete(`${key}\n${id}`)
      }
      return asked
    }
    // The object found every window full — counting this isolate's own slices as taken. A slice of a deployment the
    // core did not prefer can still serve the request: it is capacity held for exactly this.
    if (local.passedOver.length && asked.status === 429) {
      const spare = this.decideLocally(pool, lease, estimate, [...tried, ...local.passedOver], this.clock.now())
      if (spare.decision) {
        this.counts.leaseDecisions++
        return spare.decision
      }
    }
    if (asked.status === 429 && tried.length === 0) {
      if (estimate.only === undefined && estimate.family === undefined) lease.full = { at: now, until: now + FULL_BACKOFF_MS, decision: asked, tokens: demandOf(estimate) }
      this.refusedOne(lease, estimate)
    }
    return asked
  }

  /**
   * Whether the object's last "full" answers this request too: a first attempt open to every deployment (no rule's
   * `only`, no native family) that needs at least as much as the refused one did — a smaller one might have fitted.
   */
  private sameRefusal(full: NonNullable<PoolLease['full']>, estimate: RequestEstimate, tried: readonly string[]): boolean {
    return tried.length === 0 && estimate.only === undefined && estimate.family === undefined && demandOf(estimate) >= full.tokens
  }

  async report(pool: PoolConfig, outcome: AttemptOutcome): Promise<void> {
    const fromSlice = outcome.reservation !== undefined && this.local.has(outcome.reservation)
    const now = this.clock.now()
    const leasing = this.leasing(pool, now)
    if (!leasing && !fromSlice) return this.inner.report(pool, outcome) // its acquire gave back any slices left held
    const lease = this.leaseOf(pool)
    if (fromSlice) {
      this.settle(pool, lease, outcome, now)
      // Leases turned off meanwhile: a renewal still sends this settlement (and gives back any slices), asking for nothing.
      const settings = leasing ? pool.leases : lease.settings
      if (settings) await this.renewSoon(pool, lease, settings)
      return
    }
    // Decided by the object, which settles it; its breaker and latency news count here too until the next view.
    record(pool, lease.state, { ...outcome, reservation: undefined, usage: undefined }, now)
    // Both run to their end whatever the other does: the request's waitUntil holds this promise.
    const [sent] = await Promise.allSettled([this.inner.report(pool, outcome), leasing ? this.renewSoon(pool, lease, pool.leases!) : undefined])
    if (sent.status === 'rejected') throw sent.reason
  }

  snapshot(pool: PoolConfig): Promise<unknown> {
    return this.inner.snapshot(pool)
  }

  addStats(batch: StatsBatch): Promise<void> {
    return this.inner.addStats(batch)
  }

  readStats(from: number, to: number): Promise<StatsRead> {
    return this.inner.readStats(from, to)
  }

  counters(): Record<string, number> {
    return { ...this.inner.counters?.(), ...this.counts }
  }

  /**
   * Switched off (auto, or the config) while still holding slices or settlements, and no renewal running to give
   * them back (its rounds ran out): a renewal that does, else undefined. Held slices count as taken at the object.
   */
  private giveBackIdle(pool: PoolConfig): Promise<void> | undefined {
    const held = this.pools.get(pool.name)
    if (!held?.settings || (held.slices.size === 0 && !this.pending(held))) return undefined
    return this.renewSoon(pool, held, held.settings)
  }

  /**
   * Whether this isolate leases the pool now: `leases` set, and with `auto` only while its own rate pays for it.
   * `firstAttempt`: the request counts towards that rate (a failover's further attempts do not: it is one request).
   */
  private leasing(pool: PoolConfig, now: number, firstAttempt = false): boolean {
    const settings = pool.leases
    if (!settings) return false
    if (!settings.auto) return true
    let a = this.auto.get(pool.name)
    if (!a) this.auto.set(pool.name, (a = { on: false, periodStart: now, count: 0, quiet: 0 }))
    const period = settings.renewMs
    if (now < a.periodStart) a.periodStart = now // a clock stepped back: periods roll from here
    if (now >= a.periodStart + period) {
      // The periods that ended: the first with what was counted, any after it empty (no request came).
      const ended = Math.floor((now - a.periodStart) / period)
      if (a.on) {
        a.quiet = (a.count < AUTO_OFF_PER_PERIOD ? a.quiet + 1 : 0) + ended - 1
        if (a.quiet >= AUTO_OFF_PERIODS) ((a.on = false), this.counts.autoOff++)
      }
      a.periodStart += ended * period
      a.count = 0
    }
    if (firstAttempt) a.count++
    // On as soon as the period reaches the rate, not at its end: a busy isolate's first renewal comes a period sooner.
    if (!a.on && a.count >= AUTO_ON_PER_PERIOD) ((a.on = true), (a.quiet = 0), this.counts.autoOn++)
    return a.on
  }

  /** A clean shutdown: every slice given back and every settlement sent (one renewal asking for nothing), then the backend's pending writes. */
  async flush(): Promise<void> {
    await Promise.allSettled(
      [...this.pools.values()].filter((l) => l.settings && (l.slices.size > 0 || this.pending(l))).map((l) => this.renew(l.pool, l, l.settings!, true)),
    )
    await this.inner.flush?.()
  }

  /** Whether the lease has anything for the object: settlements, slices to close, outcomes. */
  private pending(lease: PoolLease): boolean {
    return lease.settled.length > 0 || lease.closing.length > 0 || lease.outcomes.length > 0
  }

  private leaseOf(pool: PoolConfig): PoolLease {
    let lease = this.pools.get(pool.name)
    const fingerprint = fingerprintOf(pool)
    if (lease && lease.fingerprint !== fingerprint) {
      // A new config (limits, deployments, leases on or off): slices granted for the old one are no longer spent but
      // closed by the new lease's next renewal (their sends counted, their grants released); what is queued for the
      // object moves over — moved, not shared, so a renewal of the old lease still in flight cannot send it twice.
      const old = lease
      old.retired = true
      this.pools.delete(pool.name)
      const fresh = this.leaseOf(pool)
      fresh.closing.push(...old.closing, ...old.slices.values())
      fresh.settled.push(...old.settled)
      fresh.outcomes.push(...old.outcomes)
      fresh.settings ??= old.settings
      // Prompt caches outlive a config change: what the old copy knew of them still holds.
      if (old.state.affinity) fresh.state.affinity = old.state.affinity
      for (const [k, c] of old.affinityOut) fresh.affinityOut.set(k, c)
      fresh.affinitySince = old.affinitySince
      fresh.offset = old.offset
      old.slices.clear()
      old.closing = []
      old.settled = []
      old.outcomes = []
      return fresh
    }
    if (!lease) {
      lease = { fingerprint, pool, state: createPoolState(pool), slices: new Map(), settled: [], closing: [], outcomes: [], recent: new Map(), refused: 0, refusedTokens: 0, refusedOutput: 0, since: this.clock.now(), renewingSince: 0, affinityOut: new Map(), offset: 0 }
      lease.state.replica = true
      this.pools.set(pool.name, lease)
    }
    if (pool.leases) lease.settings = pool.leases
    lease.pool = pool
    return lease
  }

  /**
   * The routing core's decision on the local copy, if a slice covers it. Otherwise it is undone and the request asks
   * the object; `passedOver` names the deployments whose slices could not cover it (to try after the object refused).
   */
  private decideLocally(pool: PoolConfig, lease: PoolLease, estimate: RequestEstimate, tried: readonly string[], now: number): { decision?: Decision; passedOver: string[] } {
    const passedOver: string[] = []
    if (lease.slices.size === 0) return { passedOver }
    const hint = rememberingHint(pool, estimate)
    // What deciding may change in the affinity map (the keys the request remembers), to put back if it is undone.
    const map = lease.state.affinity
    const before = hint?.remember.map(({ key }) => [key, map && Object.hasOwn(map, key) ? { ...map[key] } : undefined] as const)
    const undoAffinity = () => {
      for (const [key, entry] of before ?? []) {
        const m = (lease.state.affinity ??= {})
        if (entry) m[key] = entry
        else delete m[key]
      }
    }
    const decision = acquireOn(pool, lease.state, estimate, tried, undefined, now, this.clock.rng)
    if (decision.kind !== 'dispatch') return { passedOver } // a refusal is the object's to give: its view is exact
    const r = decision.reservation
    const slice = lease.slices.get(decision.deploymentId)
    const deployment = pool.deployments.find((d) => d.id === decision.deploymentId)
    const costs = deployment ? ledgerCostsOf(deployment, estimate, r) : null
    const covered =
      slice !== undefined &&
      now < slice.until &&
      decision.notBefore === undefined &&
      !r.probe &&
      deploymentState(lease.state, decision.deploymentId).pacing.rate === null && // a paced deployment's send rate is the object's to share out
      slice.sentRequests + 1 <= slice.requests &&
      slice.sentTokens + r.tokens <= slice.tokens &&
      costs !== null &&
      fitsLedgers(slice, costs)
    if (!covered) {
      // Undo what deciding took on the local copy (the window's reservation, a probe slot): as an attempt never counted.
      record(pool, lease.state, { deploymentId: decision.deploymentId, reservation: r, result: { class: 'client', status: 499 } }, now)
      undoAffinity()
      passedOver.push(decision.deploymentId)
      return { passedOver }
    }
    if (hint) {
      for (const { key, ttlMs } of hint.remember) {
        // A failover's holders that failed: the local copy forgot them (decide.ts), and so will the other isolates
        // (a forget for the object to log, in place of any hold of theirs still to send).
        const held = before?.find(([k]) => k === key)?.[1]
        for (const id of tried) {
          if (held && held[id] > now) this.changedAffinity(lease, { key, id, until: now + FORGET_KEEP_MS, forget: true, at: now })
          else lease.affinityOut.delete(`${key}\n${id}`)
        }
        // Every hold, refreshes too (one per key and deployment per renewal): the object decides what is news.
        this.heldAffinity(lease, key, decision.deploymentId, now + ttlMs)
      }
    }
    slice.sentRequests++
    slice.sentTokens += r.tokens
    const at = r.at + slice.offset
    const slot = slotOf(at)
    const inSlot = slice.bySlot.get(slot)
    if (inSlot) (inSlot.requests++, (inSlot.tokens += r.tokens), (inSlot.last = Math.max(inSlot.last, at)), (inSlot.first = Math.min(inSlot.first, at)))
    else slice.bySlot.set(slot, { first: at, last: at, requests: 1, tokens: r.tokens })
    const second = Math.floor(at / 1000)
    for (const [kind, cost] of Object.entries(costs!) as Array<[LedgerKind, number]>) {
      const ledger = slice.ledgers![kind]!
      ledger.sent += cost
      ledger.bySecond.set(second, (ledger.bySecond.get(second) ?? 0) + cost)
    }
    this.local.set(r, { at, slice, costs: costs! })
    this.sent(lease, decision.deploymentId, r.tokens, costs!)
    return { decision, passedOver }
  }

  /** A slice's attempt ended: learned locally at once, and queued for the object (its window change at the grant's bucket). */
  private settle(pool: PoolConfig, lease: PoolLease, outcome: AttemptOutcome, now: number) {
    const { at, slice, costs } = this.local.get(outcome.reservation!)!
    record(pool, lease.state, outcome, now)
    const deployment = pool.deployments.find((d) => d.id === outcome.deploymentId)
    const change = deployment ? settlementOf(deployment, outcome) : null
    // The ledgers as the object would keep them: the send's share released, what the attempt used counted — a refused
    // one nothing, one that may have run its reservation.
    const ledgers = deployment
      ? (Object.entries(costs) as Array<[LedgerKind, number]>).map(([kind, cost]) => ({ kind, cost, used: kind === 'usd' ? attemptCostUsd(deployment, outcome) : dayTokensUsed(deployment, outcome) }))
      : []
    if ((change && (change.requests || change.tokens)) || ledgers.length) lease.settled.push({ slice, deploymentId: outcome.deploymentId, at, change, ledgers })
    const { reservation: _r, usage: _u, ...rest } = outcome
    lease.outcomes.push({ ...rest, sentAt: at })
    if (lease.outcomes.length > MAX_QUEUED_OUTCOMES) lease.outcomes.splice(0, lease.outcomes.length - MAX_QUEUED_OUTCOMES)
  }

  /** A holder this isolate's decision took, for the next renewal (the latest hold of each key and deployment, bounded). */
  private heldAffinity(lease: PoolLease, key: string, id: string, until: number) {
    this.changedAffinity(lease, { key, id, until, at: this.clock.now() })
  }

  /** A hold or a forget for the next renewal: the latest word on each key and deployment, bounded. */
  private changedAffinity(lease: PoolLease, change: AffinityHeld) {
    const k = `${change.key}\n${change.id}`
    lease.affinityOut.delete(k) // re-inserted last: the oldest go first when over the bound
    lease.affinityOut.set(k, change)
    if (lease.affinityOut.size > MAX_AFFINITY_LOG) lease.affinityOut.delete(lease.affinityOut.keys().next().value!)
  }

  private refusedOne(lease: PoolLease, estimate: RequestEstimate) {
    lease.refused++
    lease.refusedTokens += demandOf(estimate)
    lease.refusedOutput += estimate.maxTokens ?? 0
  }

  private sent(lease: PoolLease, deploymentId: string, tokens: number, costs: LedgerCosts) {
    const r = lease.recent.get(deploymentId)
    const dayTokens = costs.dayTokens ?? 0
    const usd = costs.usd ?? 0
    if (r) (r.requests++, (r.tokens += tokens), (r.dayTokens += dayTokens), (r.usd += usd))
    else lease.recent.set(deploymentId, { requests: 1, tokens, dayTokens, usd })
  }

  /**
   * Renews once `renewMs` has passed since the last renewal, and goes on renewing while slices are held: the round
   * after traffic stops asks for nothing and so gives them back. Bounded (MAX_ROUNDS; the next report starts again):
   * a slice left held is released when the isolate next renews, or slides out of its window (an under-use).
   */
  private async renewSoon(pool: PoolConfig, lease: PoolLease, settings: LeaseSettings): Promise<void> {
    const started = this.clock.now()
    if (lease.renewingSince !== 0 && started - lease.renewingSince < STALE_RENEWER_MS) return
    lease.renewingSince = started
    try {
      for (let round = 0; round < MAX_ROUNDS && this.clock.now() - started < MAX_RENEWING_MS; round++) {
        const wait = lease.since + settings.renewMs - this.clock.now()
        if (wait > 0) await this.clock.sleep(wait)
        await this.renew(pool, lease, settings)
        // Done once nothing is held or waiting: settlements after the last round still go (a day's use must not be lost).
        if (lease.retired) return
        if (lease.slices.size === 0 && lease.refused === 0 && !this.pending(lease)) break
      }
      // Out of rounds with slices of a day quota or budget still held: given back now rather than left open until a
      // report comes (if none does, an open slice's sends would never be counted in the ledger, and its grant would stay
      // held for HELD_TTL_MS). A window's slice left open only slides out (an under-use), so those wait for the next report.
      // Bounded: a few rounds for what arrived during the last one.
      for (let round = 0; round < 3 && !lease.retired && ([...lease.slices.values()].some((s) => s.ledgers !== undefined) || this.pending(lease)); round++) {
        await this.renew(pool, lease, settings, true)
      }
    } finally {
      if (lease.renewingSince === started) lease.renewingSince = 0
    }
  }

  /** One round: closes the slices and sends what is pending; asks for the next slices unless `giveBack`. */
  private async renew(pool: PoolConfig, lease: PoolLease, settings: LeaseSettings, giveBack = false): Promise<void> {
    const asked = this.clock.now()
    if (!this.leasing(pool, asked)) giveBack = true // turned off: close what is held, send what is pending, ask for nothing
    // Close the slices: each released from its grant's bucket, and what was sent under it counted in the slots it
    // was sent in — as the object would have counted it had it been asked — then the settlements, in their send's slot.
    const deltas: UsageDelta[] = []
    const closed = [...lease.slices.values(), ...lease.closing]
    lease.closing = []
    for (const s of closed) {
      deltas.push({ deploymentId: s.deploymentId, at: s.at, requests: -s.heldRequests, tokens: -s.heldTokens })
      for (const b of s.bySlot.values()) {
        // Two deltas when the slot saw several sends: the bucket then spans the first to the last of them.
        deltas.push({ deploymentId: s.deploymentId, at: b.first, requests: 1, tokens: b.tokens })
        if (b.requests > 1) deltas.push({ deploymentId: s.deploymentId, at: b.last, requests: b.requests - 1, tokens: 0 })
      }
    }
    // The settlements, summed per deployment and slot of their send. A lost slice's sends may not be in the window:
    // giving back what may never have been counted would take it from someone else's requests — only what adds is sent.
    const settledBySlot = new Map<string, UsageDelta>()
    const ledgerBySecond = new Map<string, LedgerDelta>()
    for (const p of lease.settled) {
      const change = p.change && p.slice.lost ? { requests: 0, tokens: Math.max(0, p.change.tokens) } : p.change
      if (change && (change.requests || change.tokens)) {
        const key = `${p.deploymentId}@${slotOf(p.at)}`
        const sum = settledBySlot.get(key)
        if (sum) (sum.requests += change.requests), (sum.tokens += change.tokens)
        else settledBySlot.set(key, { deploymentId: p.deploymentId, at: p.at, ...change })
      }
      const second = Math.floor(p.at / 1000)
      for (const l of p.ledgers) {
        const key = `${l.kind}:${p.deploymentId}@${second}`
        const sum = ledgerBySecond.get(key) ?? { kind: l.kind, deploymentId: p.deploymentId, at: second * 1000, release: 0, hold: 0, used: 0 }
        // A lost slice's close may never have held this share: nothing is released, the use still counts.
        if (!p.slice.lost) sum.release += l.cost
        sum.used += l.used
        ledgerBySecond.set(key, sum)
      }
    }
    lease.settled = []
    deltas.push(...settledBySlot.values())
    // The period ledgers: each closed slice's grant released and its sends' shares held, then the settlements.
    const ledgers: LedgerDelta[] = []
    for (const s of closed) {
      for (const [kind, l] of Object.entries(s.ledgers ?? {}) as Array<[LedgerKind, SliceLedger]>) {
        ledgers.push({ kind, deploymentId: s.deploymentId, at: s.at, release: l.held, hold: 0, used: 0 })
        for (const [second, amount] of l.bySecond) ledgers.push({ kind, deploymentId: s.deploymentId, at: second * 1000, release: 0, hold: amount, used: 0 })
      }
    }
    ledgers.push(...ledgerBySecond.values())
    lease.slices.clear()
    const elapsed = Math.max(settings.renewMs, asked - lease.since)
    // Sized on demand, not only on sends: while the windows are full every request is refused, and slices sized on
    // sends alone would claim none of the capacity as it frees. Refused demand is spread like the sends were (or
    // evenly, when nothing was sent).
    let sends = 0
    for (const r of lease.recent.values()) sends += r.requests
    const wants: LeaseWant[] = []
    const want = (deploymentId: string, perPeriod: number, tokensEach: number, dayTokensEach: number, usdEach: number) => {
      const requests = Math.ceil(perPeriod * settings.sliceFactor + 2 * Math.sqrt(perPeriod))
      wants.push({
        deploymentId,
        requests,
        tokens: Math.ceil(requests * tokensEach),
        ...(dayTokensEach > 0 ? { dayTokens: Math.ceil(requests * dayTokensEach) } : {}),
        ...(usdEach > 0 ? { usd: requests * usdEach } : {}),
      })
    }
    const scale = sends > 0 ? (sends + lease.refused) / sends : 0
    // `sliceFactor` periods of the recent rate, and room for a Poisson burst on top (two standard deviations):
    // at a few requests per period the rate alone would leave every other request asking the object.
    if (!giveBack) for (const [deploymentId, r] of lease.recent) want(deploymentId, (r.requests * scale * settings.renewMs) / elapsed, r.tokens / r.requests, r.dayTokens / r.requests, r.usd / r.requests)
    if (!giveBack && sends === 0 && lease.refused > 0) {
      for (const d of pool.deployments) {
        // A day quota counts output burned down: the refused requests' output caps weigh more there.
        const dayEach = d.tokensPerDay === undefined ? 0 : (lease.refusedTokens + lease.refusedOutput * (burndownOf(d) - 1)) / lease.refused
        const output = lease.refusedOutput / lease.refused
        const usdEach = budgetsOf(d) ? reservedUsd(d, { inputTokens: lease.refusedTokens / lease.refused - output, maxTokens: output, stream: false }) : 0
        want(d.id, (lease.refused * settings.renewMs) / elapsed / pool.deployments.length, lease.refusedTokens / lease.refused, dayEach, usdEach)
      }
    }
    lease.refused = 0
    lease.refusedTokens = 0
    lease.refusedOutput = 0
    lease.recent = new Map()
    lease.since = asked
    if (wants.length === 0 && deltas.length === 0 && ledgers.length === 0 && lease.outcomes.length === 0 && lease.affinityOut.size === 0) return
    const affinityOut = lease.affinityOut
    lease.affinityOut = new Map()
    const affinity = affinityOf(pool).enabled ? { since: lease.affinitySince, by: this.id, held: [...affinityOut.values()].map((c) => ({ ...c, until: c.until + lease.offset, ...(c.at !== undefined ? { at: c.at + lease.offset } : {}) })) } : undefined
    const report: LeaseReport = { wants, deltas, outcomes: lease.outcomes, ...(ledgers.length ? { ledgers } : {}), ...(affinity ? { affinity } : {}) }
    lease.outcomes = []
    let answer: LeaseAnswer
    try {
      answer = await withTimeout(this.inner.lease(pool, report, settings.renewMs * 3), LEASE_CALL_TIMEOUT_MS, this.clock)
    } catch (e) {
      // Whether the object applied it is unknown; not sent again. Releases lost this way stay counted until their
      // bucket slides out (an under-use); the closed slices' later settlements only add (Slice.lost).
      for (const s of closed) s.lost = true
      // Holders merge by the latest hold, so sending them again is harmless: they go with the next renewal (the
      // successor's, when a new config retired this lease meanwhile).
      const next = (lease.retired && this.pools.get(pool.name)) || lease
      for (const [k, c] of affinityOut) if (!next.affinityOut.has(k)) next.affinityOut.set(k, c)
      this.counts.renewalFailures++
      if (this.clock.now() - this.warnedAt < WARN_EVERY_MS) return
      this.warnedAt = this.clock.now()
      console.warn(JSON.stringify({ msg: 'lease renewal failed; asking the object per request', pool: pool.name, failures: this.counts.renewalFailures, error: e instanceof Error ? e.message : String(e) }))
      return
    }
    this.counts.renewals++
    const now = this.clock.now()
    // The object granted at some local moment between `asked` and now: mapping `asked` to its time maps every local
    // time to the latest object time it can be, so a request never counts as sent earlier than it was.
    const offset = answer.at - asked
    const until = asked + answer.validMs
    lease.offset = offset
    // What other isolates' requests cached, in local time (a retired lease's copy is gone: its successor asks afresh).
    if (answer.affinity && !lease.retired) {
      lease.affinitySince = answer.affinity.seq
      // A forget of a holder this isolate has since seen succeed (a hold still to send, taken after it) is not applied.
      const changes = answer.affinity.changes
        .map((c) => ({ key: c.key, id: c.id, until: c.until - offset, ...(c.forget === true ? { forget: true as const, at: (c.at ?? answer.at) - offset } : {}) }))
        .filter((c) => !c.forget || !((lease.affinityOut.get(`${c.key}\n${c.id}`)?.at ?? -Infinity) > c.at!))
      // The whole map (the log overflowed past this isolate): it replaces the copy, with this isolate's holds not yet sent.
      if (answer.affinity.full) {
        lease.state.affinity = {}
        mergeAffinity(lease.state, [...lease.affinityOut.values()].filter((c) => !c.forget), now, affinityOf(pool).maxEntries)
      }
      mergeAffinity(lease.state, changes, now, affinityOf(pool).maxEntries)
    }
    // Retired while this renewal was in flight (a new config): its grants go to the new lease, to be closed unspent.
    const successor = lease.retired ? this.pools.get(pool.name) : undefined
    for (const g of answer.grants) {
      if (!(g.requests > 0)) continue
      const ledgers: Partial<Record<LedgerKind, SliceLedger>> = {}
      if (g.heldDayTokens !== undefined) ledgers.dayTokens = { held: g.heldDayTokens, sent: 0, bySecond: new Map() }
      if (g.heldUsd !== undefined) ledgers.usd = { held: g.heldUsd, sent: 0, bySecond: new Map() }
      const slice: Slice = { ...g, until, sentRequests: 0, sentTokens: 0, offset, bySlot: new Map(), ...(Object.keys(ledgers).length ? { ledgers } : {}) }
      if (lease.retired) (successor ?? lease).closing.push(slice)
      else lease.slices.set(g.deploymentId, slice)
    }
    if (lease.retired) return
    const bucket = (requests: number, tokens: number) => (requests > 0 || tokens > 0 ? [{ first: now, last: now, requests, tokens }] : [])
    // A quota group's window, as the local decisions read it (usageOf): the group's total — a member's view plus its own
    // grant, which the view leaves out — less every grant this isolate now holds in the group.
    const groups = new Map<string, { requests: number; tokens: number; heldRequests: number; heldTokens: number }>()
    for (const [id, view] of Object.entries(answer.views)) {
      const { window, ...rest } = view
      const ds = deploymentState(lease.state, id)
      Object.assign(ds, rest)
      ds.usage = bucket(window.requests, window.tokens)
      const group = pool.deployments.find((d) => d.id === id)?.quotaGroup
      if (group === undefined) continue
      const grant = answer.grants.find((g) => g.deploymentId === id)
      const g = groups.get(group) ?? { requests: 0, tokens: 0, heldRequests: 0, heldTokens: 0 }
      g.requests = Math.max(g.requests, window.requests + (grant?.heldRequests ?? 0))
      g.tokens = Math.max(g.tokens, window.tokens + (grant?.heldTokens ?? 0))
      g.heldRequests += grant?.heldRequests ?? 0
      g.heldTokens += grant?.heldTokens ?? 0
      groups.set(group, g)
    }
    for (const [name, g] of groups) (lease.state.quotaGroups ??= {})[name] = bucket(Math.max(0, g.requests - g.heldRequests), Math.max(0, g.tokens - g.heldTokens))
    // A quota group's day: the object leaves this isolate's grants out of it, as it does a member's own day.
    if (answer.groupDays) lease.state.quotaGroupDays = answer.groupDays
  }
}

/**
 * What a request takes of each of a deployment's period ledgers; null: it must ask the object. Its day's tokens: the
 * most it may settle to (quota.ts maxSettledTokens, output burned down), so no slice lets the day run over however much
 * of its output cap a request uses — spent by reservations, which are smaller, slices of a 5× burndown model ran a day
 * over by a renewal's worth of sends. Its USD: its reservation's cost at most.
 */
type LedgerCosts = Partial<Record<LedgerKind, number>>

function ledgerCostsOf(deployment: DeploymentConfig, estimate: RequestEstimate, reservation: Reservation): LedgerCosts | null {
  const costs: LedgerCosts = {}
  if (deployment.tokensPerDay !== undefined) costs.dayTokens = maxSettledTokens(deployment, estimate)
  if (budgetsOf(deployment)) {
    // A budgeted deployment whose request has no cost known in advance (no price: a prompt router bills its invoked
    // model afterwards) cannot be spent from a slice: it asks the object, which knows every isolate's spend.
    if (!((reservation.usd ?? 0) > 0)) return null
    costs.usd = reservation.usd!
  }
  return costs
}

/** Whether the slice's shares of the ledgers cover the request: a ledger the request draws on and the slice holds none of does not. */
function fitsLedgers(slice: Slice, costs: LedgerCosts): boolean {
  for (const [kind, cost] of Object.entries(costs) as Array<[LedgerKind, number]>) {
    const ledger = slice.ledgers?.[kind]
    if (!ledger || ledger.sent + cost > ledger.held) return false
  }
  return true
}

/** The request's affinity hint where routing uses it (affinity.ts), when it has keys to remember. */
function rememberingHint(pool: PoolConfig, estimate: RequestEstimate) {
  const hint = affinityHintOf(pool, estimate)
  return hint?.remember.length ? hint : undefined
}

/** Tokens a request asks for as far as the lease can tell without a deployment (input + its own output cap). */
function demandOf(estimate: RequestEstimate): number {
  return estimate.inputTokens + (estimate.maxTokens ?? 0)
}

/** `promise`, or a rejection after `ms` on `clock` (the timer is not cleared: a virtual clock's sleep cannot be). */
function withTimeout<T>(promise: Promise<T>, ms: number, clock: LeaseClock): Promise<T> {
  return Promise.race([promise, clock.sleep(ms).then(() => Promise.reject(new Error(`the state object did not answer a lease renewal within ${ms} ms`)))])
}
