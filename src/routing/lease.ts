/**
 * Leases, the object's side (docs/state-design.md, "Past one object: leases"). An isolate that routes a hot pool asks
 * the pool's object for a *slice* of each deployment's free window capacity, then decides on its own, within its
 * slices, until its next renewal: most requests make no round trip. The object counts every slice as taken from the
 * moment it is granted (in the bucket of the grant's time) until the isolate closes it, so slices never overrun a
 * window; what they cost is capacity held by an isolate that does not use it in time.
 *
 * At each renewal the isolate sends what changed since the last one as usage deltas: each closed slice released
 * from its grant's bucket and what was really sent under it counted again now (so every request counts from no
 * later than it was sent until no earlier than 60 s after), and each attempt's settlement (its real tokens, or a
 * refused one given back) at the bucket its request is counted in — and its attempts' outcomes (breaker, pacing, latency: recorded here without touching the windows, which the deltas
 * already keep). The answer is the next slices and the object's view of every deployment, so the isolate's own
 * decisions see the breakers and windows that every other isolate fed.
 *
 * Pure: time is a parameter, state is the pool's plain JSON state.
 */
import type { PoolConfig } from '../config/types'
import { record } from './record'
import { recordSends } from './pacing'
import { deploymentState, usageOf } from './state'
import type { AttemptOutcome, DeploymentState, PoolState } from './types'
import { addUsage, pruneUsage, windowTotals } from './window'
import { dayLedgerOf, dayTokensLeft, holdDayTokens } from './day-tokens'
import { affinityChangesSince, affinityOf, mergeAffinity, MAX_AFFINITY_LOG, type AffinityChange, type AffinityHeld } from './affinity'
import { adjustLedger, budgetLeft, budgetsOf, createSpendState, heldUsd, holdSpend, refreshSpend, type SpendState } from './budget'

/** What an isolate would like to send to one deployment before its next renewal. */
export interface LeaseWant {
  deploymentId: string
  requests: number
  tokens: number
  /** A deployment with `tokensPerDay`: the day's tokens those requests may use at most (output burned down). */
  dayTokens?: number
  /** A deployment with a budget: what those requests may cost at most (USD). */
  usd?: number
}

/** A change to a deployment's window at the bucket of `at` (a grant's time; absent: the object's now). */
export interface UsageDelta {
  deploymentId: string
  at?: number
  requests: number
  tokens: number
}

/**
 * A deployment's period ledgers (budget.ts SpendState) that slices take shares of: its day's tokens (`tokensPerDay`,
 * day-tokens.ts) and its USD budgets (per day and month).
 */
export type LedgerKind = 'dayTokens' | 'usd'

/**
 * A change to one of a deployment's period ledgers for attempts decided under slices, applied in order: `release`
 * taken off what is held at `at`, `hold` held at `at`, `used` counted as spent. A closed slice releases its grant's
 * hold and holds its sends' shares; an attempt's settlement releases its share and counts what it used — the ledger
 * ends as it would had each attempt asked the object.
 */
export interface LedgerDelta {
  kind: LedgerKind
  deploymentId: string
  at: number
  release: number
  hold: number
  used: number
}

export interface LeaseReport {
  wants: LeaseWant[]
  deltas: UsageDelta[]
  /** Outcomes of attempts decided under a slice, without reservation and usage (the deltas carry those). */
  outcomes: AttemptOutcome[]
  /** Deployments with `tokensPerDay` or a budget: their ledgers' changes (absent: none). */
  ledgers?: LedgerDelta[]
  /**
   * Prompt-cache affinity: the holders this isolate's own decisions took since its last renewal (`until` in the
   * object's time), the log's `seq` in its last answer (the changes it has seen) and who it is (`by`: its own
   * changes are not handed back to it).
   */
  affinity?: { since?: number; by?: string; held: AffinityHeld[] }
}

export interface LeaseGrant {
  deploymentId: string
  /** The object's time at grant: the bucket the slice is held in, which the isolate's deltas name. */
  at: number
  /** Counted in the window as taken until released (a dimension without a configured limit holds nothing). */
  heldRequests: number
  heldTokens: number
  /** What the isolate may send under the slice: the held amounts, or Infinity in a dimension without a limit. */
  requests: number
  tokens: number
  /** A deployment with `tokensPerDay`: the slice's tokens, held against the day until the slice closes. */
  heldDayTokens?: number
  /** A deployment with a budget: the slice's USD, held against the budgets until the slice closes. */
  heldUsd?: number
}

/**
 * A deployment's state as the object sees it, without its window buckets: their totals instead, this grant's excluded;
 * its ledgers (budgets, day's tokens) with what is held summed into one hold, this grant's excluded — so the isolate's
 * own decisions see a spent budget or day as spent. It shares the state's objects: the answer is copied on its way to
 * the isolate (RPC, or the memory store's clone).
 */
export type DeploymentView = Omit<DeploymentState, 'usage'> & { window: { requests: number; tokens: number } }

/**
 * A ledger for a view: its periods' spend, and what others hold as one hold at `now`. Moved along to `now` first:
 * folded into one hold stamped now, an expired hold would count again for its full time in the isolate.
 */
function ledgerView(spend: SpendState | undefined, own: number | undefined, now: number): SpendState | undefined {
  if (!spend) return undefined
  refreshSpend(spend, now)
  const held = heldUsd(spend) - (own ?? 0)
  return { ...spend, held: held > 1e-12 ? [{ slot: Math.floor(now / 1000), usd: held }] : [] }
}

export interface LeaseAnswer {
  /** The object's time: the bucket the grants are held in and the closed slices' sends are counted in. */
  at: number
  /** How long the slices may be spent, from when the isolate asked. */
  validMs: number
  grants: LeaseGrant[]
  views: Record<string, DeploymentView>
  /** The day ledger of each quota group with `tokensPerDay` (a member's view has none of its own), this isolate's grants' holds excluded. */
  groupDays?: Record<string, SpendState>
  /** Prompt-cache affinity holders the object learned since the isolate's last answer, and the log's `seq` now (absent: no log). */
  affinity?: { seq: number; changes: AffinityChange[]; full?: true }
}

/** Applies a renewal's deltas and outcomes to the pool's state. */
export function applyLeaseReport(pool: PoolConfig, state: PoolState, report: LeaseReport, now: number): void {
  for (const delta of report.deltas) {
    const deployment = pool.deployments.find((d) => d.id === delta.deploymentId)
    const at = delta.at ?? now
    if (!deployment || !Number.isFinite(at) || !Number.isFinite(delta.requests) || !Number.isFinite(delta.tokens)) continue
    const usage = usageOf(state, deployment)
    pruneUsage(usage, now)
    addUsage(usage, at, delta.requests, delta.tokens)
    // Sends under a slice (a closed slice's, counted in their slot) feed the measured send rate that pacing cuts from.
    if (delta.requests > 0 && delta.at !== undefined && delta.tokens >= 0) recordSends(deploymentState(state, deployment.id).pacing, at, delta.requests)
  }
  for (const outcome of report.outcomes) record(pool, state, { ...outcome, reservation: undefined, usage: undefined }, now)
  for (const delta of report.ledgers ?? []) {
    const deployment = pool.deployments.find((d) => d.id === delta.deploymentId)
    // Non-finite amounts are ignored, as the window's deltas are: a bad report must not poison a day or a budget.
    if (!deployment || ![delta.at, delta.release, delta.hold, delta.used].every(Number.isFinite)) continue
    const day = delta.kind === 'dayTokens' ? dayLedgerOf(state, deployment, now) : undefined
    if (day) adjustLedger(day, delta, now)
    else if (delta.kind === 'usd' && budgetsOf(deployment)) adjustLedger((deploymentState(state, deployment.id).spend ??= createSpendState(now)), delta, now)
  }
  const held = report.affinity?.held
  if (Array.isArray(held) && held.length) {
    const valid = held.filter((c) => typeof c?.key === 'string' && c.key.length <= MAX_KEY_LENGTH && pool.deployments.some((d) => d.id === c.id) && Number.isFinite(c.until) && c.until <= now + MAX_HOLD_MS)
    mergeAffinity(state, valid.slice(0, MAX_AFFINITY_LOG), now, affinityOf(pool).maxEntries, { by: typeof report.affinity?.by === 'string' ? report.affinity.by.slice(0, 64) : undefined })
  }
}

/** Bounds on an isolate's affinity changes: a key as cache-keys.ts makes them, a hold no longer than Bedrock's longest cache TTL (1 h) or a long session. */
const MAX_KEY_LENGTH = 64
const MAX_HOLD_MS = 24 * 3_600_000

/**
 * Grants each want what the window can give without ever being overrun: at most the capacity free now, where every
 * reservation and slice already held (queued ones too) counts as taken. A deployment that has no room in one of its
 * limits gets nothing (a slice of requests without tokens could send nothing).
 */
export function grantLeases(pool: PoolConfig, state: PoolState, wants: readonly LeaseWant[], validMs: number, now: number, affinity?: Pick<NonNullable<LeaseReport['affinity']>, 'since' | 'by'>): LeaseAnswer {
  const grants: LeaseGrant[] = []
  const held = new Map<string, LeaseGrant>()
  for (const want of wants) {
    const deployment = pool.deployments.find((d) => d.id === want.deploymentId)
    if (!deployment || held.has(deployment.id)) continue
    const usage = usageOf(state, deployment)
    pruneUsage(usage, now)
    const totals = windowTotals(usage, now)
    const freeRequests = deployment.rpm === undefined ? Infinity : deployment.rpm - totals.requests - totals.queuedRequests
    const freeTokens = deployment.tpm === undefined ? Infinity : deployment.tpm - totals.tokens - totals.queuedTokens
    const wanted = (x: number) => (Number.isFinite(x) && x > 0 ? Math.ceil(x) : 0) // a bad want asks for nothing
    // A day quota bounds the slice too: it may spend at most what the day has left, held against the day meanwhile.
    // Budgets too: at most what they have left, for requests that cost something (a model without a price costs nothing).
    const ds = deploymentState(state, deployment.id)
    const day = deployment.tokensPerDay === undefined ? undefined : dayTokensLeft(deployment, state, now)
    const budgets = budgetsOf(deployment)
    const usdLeft = budgets ? budgetLeft((ds.spend ??= createSpendState(now)), budgets, now) : undefined
    const wantedUsd = typeof want.usd === 'number' && Number.isFinite(want.usd) && want.usd > 0 ? want.usd : 0
    let requests = Math.max(0, Math.min(wanted(want.requests), Math.floor(freeRequests)))
    let tokens = Math.max(0, Math.min(wanted(want.tokens), Math.floor(freeTokens)))
    let dayTokens = day === undefined ? 0 : Math.min(wanted(want.dayTokens ?? want.tokens), day)
    let usd = usdLeft === undefined ? 0 : Math.min(wantedUsd, usdLeft)
    // A spent budget grants nothing, whatever the want: a request without a known cost must not be sent under a slice either.
    if (requests === 0 || tokens === 0 || (day !== undefined && dayTokens === 0) || (usdLeft !== undefined && !(usdLeft > 0)) || (wantedUsd > 0 && !(usd > 0))) requests = tokens = dayTokens = usd = 0
    const grant: LeaseGrant = {
      deploymentId: deployment.id,
      at: now,
      heldRequests: deployment.rpm === undefined ? 0 : requests,
      heldTokens: deployment.tpm === undefined ? 0 : tokens,
      requests: deployment.rpm === undefined && requests > 0 ? Infinity : requests,
      tokens: deployment.tpm === undefined && tokens > 0 ? Infinity : tokens,
    }
    if (dayTokens > 0) {
      grant.heldDayTokens = dayTokens
      holdDayTokens(dayLedgerOf(state, deployment, now), now, dayTokens)
    }
    if (usd > 0) {
      grant.heldUsd = usd
      holdSpend(ds.spend!, now, usd)
    }
    addUsage(usage, now, grant.heldRequests, grant.heldTokens)
    grants.push(grant)
    held.set(deployment.id, grant)
  }
  const views: Record<string, DeploymentView> = {}
  for (const deployment of pool.deployments) {
    const { usage: _buckets, spend, dayTokens, ...rest } = deploymentState(state, deployment.id)
    const totals = windowTotals(usageOf(state, deployment), now)
    const mine = held.get(deployment.id)
    const spendView = ledgerView(spend, mine?.heldUsd, now)
    const dayView = ledgerView(dayTokens, mine?.heldDayTokens, now)
    views[deployment.id] = {
      ...rest,
      ...(spendView ? { spend: spendView } : {}),
      ...(dayView ? { dayTokens: dayView } : {}),
      window: {
        requests: Math.max(0, totals.requests + totals.queuedRequests - (mine?.heldRequests ?? 0)),
        tokens: Math.max(0, totals.tokens + totals.queuedTokens - (mine?.heldTokens ?? 0)),
      },
    }
  }
  // A quota group's day, as the isolate's own decisions read it: every hold but this isolate's grants in the group.
  let groupDays: Record<string, SpendState> | undefined
  for (const deployment of pool.deployments) {
    const group = deployment.quotaGroup
    if (group === undefined || deployment.tokensPerDay === undefined || (groupDays && Object.hasOwn(groupDays, group))) continue
    let mine = 0
    for (const d of pool.deployments) if (d.quotaGroup === group) mine += held.get(d.id)?.heldDayTokens ?? 0
    ;(groupDays ??= {})[group] = ledgerView(dayLedgerOf(state, deployment, now), mine, now)!
  }
  const changes = affinityChangesSince(state, affinity?.since, now, affinity?.by)
  return { at: now, validMs, grants, views, ...(groupDays ? { groupDays } : {}), ...(changes ? { affinity: changes } : {}) }
}
