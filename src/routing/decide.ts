/**
 * `decide`: choose the deployment for the next attempt of a request, and reserve its quota in the same step.
 *
 * 1. Assess every deployment (candidates.ts): hard blocks (tried, misconfigured, configured window full) and soft
 *    penalties (ejected by its breaker, paced after throttles, Retry-After).
 * 2. Among the deployments without a hard block, prefer, in this order: healthy ones with a send token; on a first
 *    attempt, a brief wait (≤ `maxPacingMs`) for the soonest token of a healthy one when every healthy one is paced;
 *    healthy paced ones; and last, ejected ones — a request is never refused while any deployment might serve it.
 *    When fewer than `panicThreshold` of the pool are healthy, ejected ones count as healthy (Envoy's panic mode).
 *    Within a group: the best tier (primaries, then fallbacks; prompt routers before plain models in a bedrock-ipr
 *    pool), then on a failover the deployments that failed least recently, then the pool's strategy.
 * 3. Every deployment hard-blocked: a pool whose strategy can queue (rate-limit-aware) with `maxQueueMs` reserves the earliest moment a
 *    deployment's window has room (if within the bound) and dispatches with `notBefore`; otherwise reject — 429 if a
 *    configured window is what is full, 503 if every deployment is misconfigured or already tried — saying which.
 *
 * With prompt-cache affinity keys (affinity.ts), the deployment holding them is taken first in step 2 while it is
 * ready, healthy, in the best ready tier and has headroom left; otherwise the request spills over (the decision says
 * why) and whichever deployment takes it holds the keys from then on.
 *
 * On `dispatch` the state already holds the reservation (and the probe slot, and the send token, and the affinity
 * keys), so the caller persists state and decision together.
 */
import type { PoolConfig } from '../config/types'
import { affinityHintOf, affinityOf, heldPrefixes, holdAffinity, IMBALANCE_SLACK, type AffinitySettings } from './affinity'
import { probeTimeoutMs, takeProbe } from './breaker'
import { assess, availableAt, fullLimits, type Candidate } from './candidates'
import { freshLatency, measurementPending } from './latency'
import { holdSpend } from './budget'
import { holdDayTokens } from './day-tokens'
import { recordSend } from './pacing'
import { strategyFor } from './strategies'
import type { Decision, PoolState, RequestEstimate } from './types'
import { addUsage, windowTotals } from './window'

/** Retry-After when nothing says when a deployment frees up. */
const DEFAULT_RETRY_AFTER_MS = 1000
/** Retry-After when the request can never fit (larger than every deployment's tpm). */
const TOO_LARGE_RETRY_AFTER_MS = 60_000
/** A failure older than this no longer counts against a deployment when a failover picks where to go. */
export const RECENT_FAILURE_MS = 10_000

export function decide(
  pool: PoolConfig,
  state: PoolState,
  req: RequestEstimate,
  tried: readonly string[],
  now: number,
  rng: () => number,
): Decision {
  const settings = affinityOf(pool)
  const hint = affinityHintOf(pool, req)
  const held = hint ? heldPrefixes(state, hint, now) : []
  let spill: string | undefined
  const decision = choose(pool, state, req, tried, now, rng, held, settings, (why) => (spill = why))
  if (hint && decision.kind === 'dispatch') {
    holdAffinity(state, hint, tried, decision.deploymentId, now, settings.maxEntries, pool.leases !== undefined && !state.replica)
    const level = held.findIndex((l) => l.holders.includes(decision.deploymentId))
    decision.affinity = held.length === 0 ? 'new' : level === 0 ? 'hit' : `${level > 0 ? 'shorter prefix' : 'spill'}: ${spill ?? 'its holders were not chosen'}`
  }
  return decision
}

function choose(
  pool: PoolConfig,
  state: PoolState,
  req: RequestEstimate,
  tried: readonly string[],
  now: number,
  rng: () => number,
  held: ReadonlyArray<{ key: string; holders: readonly string[] }>,
  settings: AffinitySettings,
  spilled: (why: string) => void,
): Decision {
  const candidates = pool.deployments.map((d) => assess(pool, d, state, req, tried, now))
  const open = candidates.filter((c) => !c.tried && c.block === null)
  if (open.length === 0) {
    if (strategyFor(pool, req).canQueue && pool.maxQueueMs > 0) {
      const queued = queue(pool, candidates, req, now)
      if (queued) return queued
    }
    return reject(candidates, req, now)
  }
  const failover = tried.length > 0
  const healthy = panicking(pool, candidates) ? open : open.filter((c) => !c.ejected)
  const ready = healthy.filter((c) => c.readyAt <= now)
  const holding = held.length ? holderContext(candidates, healthy, ready, settings, now) : undefined
  for (const [i, level] of held.entries()) {
    const able = ableHolders(level.holders, holding!)
    if (Array.isArray(able)) return pick(pool, able, req, now, rng, failover, `; prompt-cache affinity: it holds ${i === 0 ? "this prompt's longest cached prefix" : 'a shorter cached prefix'}`)
    if (i === 0) spilled(able)
  }
  if (ready.length > 0) return pick(pool, ready, req, now, rng, failover, '')
  if (healthy.length > 0) {
    if (!failover && pool.maxPacingMs > 0) {
      let soonest: Candidate | null = null
      for (const c of healthy) {
        if (!soonest || c.tier < soonest.tier || (c.tier === soonest.tier && c.readyAt < soonest.readyAt)) soonest = c
      }
      if (soonest && soonest.readyAt <= now + pool.maxPacingMs) {
        const wait = Math.ceil(soonest.readyAt - now)
        return dispatch(pool, soonest, req, soonest.readyAt, now, `paced: waited ${wait} ms for a send token${tierNote(soonest)}`, 'pace')
      }
    }
    // Every healthy one is paced: the one whose token comes soonest (the least throttled relative to its traffic) —
    // a strategy's favourite that keeps throttling must not keep taking every request.
    let soonest = Number.POSITIVE_INFINITY
    for (const c of healthy) soonest = Math.min(soonest, c.readyAt)
    const leastPaced = healthy.filter((c) => c.readyAt <= soonest)
    return pick(pool, leastPaced, req, now, rng, failover, '; every healthy deployment is paced after throttles: the soonest send token')
  }
  // Every deployment that may be sent to is ejected: the least bad one still gets the request.
  let best = open[0]
  for (const c of open) {
    const better =
      c.tier < best.tier ||
      (c.tier === best.tier && (c.ejectedUntil < best.ejectedUntil || (c.ejectedUntil === best.ejectedUntil && c.state.lastFailureAt < best.state.lastFailureAt)))
    if (better) best = c
  }
  return dispatch(pool, best, req, now, now, `last resort: every other deployment is ejected or tried${tierNote(best)}`)
}

/** What every held prefix is judged against in one decision: the best ready tier and its last minute's load. */
interface HolderContext {
  candidates: readonly Candidate[]
  healthy: readonly Candidate[]
  ready: readonly Candidate[]
  settings: AffinitySettings
  now: number
  bestTier: number
  /** Requests in the last minute of each candidate of the best ready tier, their sum, and the tier's total weight. */
  recent: Map<Candidate, number>
  requests: number
  weight: number
}

function holderContext(candidates: readonly Candidate[], healthy: readonly Candidate[], ready: readonly Candidate[], settings: AffinitySettings, now: number): HolderContext {
  let bestTier = Number.POSITIVE_INFINITY
  for (const r of ready) bestTier = Math.min(bestTier, r.tier)
  // The best tier's requests in the last minute, per unit of weight: a holder far above its share spills.
  let requests = 0
  let weight = 0
  const recent = new Map<Candidate, number>()
  for (const r of ready) {
    if (r.tier !== bestTier) continue
    const n = windowTotals(r.state.usage, now).requests
    recent.set(r, n)
    requests += n
    weight += r.deployment.weight
  }
  return { candidates, healthy, ready, settings, now, bestTier, recent, requests, weight }
}

/** Why a holder (undefined: one no longer in the pool) may not take the request as well as any other now; null: it may. */
function holderUnable(c: Candidate | undefined, h: HolderContext): string | null {
  if (!c) return 'is no longer in the pool'
  if (c.tried) return 'was tried'
  if (c.block) return `is ${c.block}`
  if (!h.healthy.includes(c)) return 'is ejected by its breaker'
  if (!h.ready.includes(c)) return c.state.avoidUntil > h.now ? 'asked for a pause (Retry-After)' : 'is paced after throttles'
  if (c.tier > h.bestTier) return 'is in a fallback tier and a better one can serve'
  if (c.headroom < h.settings.minHeadroom) return `has ${Math.round(c.headroom * 100)} % of its window left`
  const n = h.recent.get(c) ?? 0
  const share = h.weight > 0 ? (h.requests * c.deployment.weight) / h.weight : 0
  if (n > h.settings.maxImbalance * share + IMBALANCE_SLACK) return `has taken ${n} requests in the last minute, over ${h.settings.maxImbalance}× its share of ${Math.round(share)}`
  return null
}

/**
 * The holders of a cached prefix that may take the request as well as any other deployment: not tried, no hard block,
 * healthy, a send token now, in the best tier that has one, at least `minHeadroom` of their configured window left,
 * and within `maxImbalance` of their share of the last minute. None: why not, for the trace (the request spills over
 * to the usual choice).
 */
function ableHolders(holders: readonly string[], h: HolderContext): Candidate[] | string {
  const able: Candidate[] = []
  const why: string[] = []
  for (const id of holders) {
    const c = h.candidates.find((x) => x.deployment.id === id)
    const not = holderUnable(c, h)
    if (not === null) able.push(c!)
    else why.push(`${id} ${not}`)
  }
  return able.length ? able : `the cached prefix's holder${holders.length > 1 ? 's' : ''}: ${why.join('; ')}`
}

/** Envoy's panic mode: too few healthy deployments to trust the ejections. */
function panicking(pool: PoolConfig, candidates: readonly Candidate[]): boolean {
  let judged = 0
  let healthy = 0
  for (const c of candidates) {
    if (c.block === 'misconfigured' || c.block === 'other-family' || c.block === 'budget-spent' || c.block === 'not-allowed') continue
    judged++
    if (!c.ejected) healthy++
  }
  return judged > 0 && healthy / judged < pool.breaker.panicThreshold
}

function tierNote(c: Candidate): string {
  return c.tier > 0 ? '; fallback tier' : ''
}

/** The best tier of `group`; on a failover the least recently failed of it; then the strategy. */
function pick(
  pool: PoolConfig,
  group: readonly Candidate[],
  req: RequestEstimate,
  now: number,
  rng: () => number,
  failover: boolean,
  note: string,
): Decision {
  let tier = Number.POSITIVE_INFINITY
  for (const c of group) tier = Math.min(tier, c.tier)
  let eligible = group.filter((c) => c.tier === tier)
  let why = ''
  if (failover && eligible.length > 1) {
    const recent = (c: Candidate) => (c.state.lastFailureAt > now - RECENT_FAILURE_MS ? c.state.lastFailureAt : 0)
    let least = Number.POSITIVE_INFINITY
    for (const c of eligible) least = Math.min(least, recent(c))
    const calm = eligible.filter((c) => recent(c) === least)
    if (calm.length < eligible.length) why = 'least recent failure; '
    eligible = calm
  }
  const chosen = strategyFor(pool, req).pick(eligible, { pool, req, now, rng })
  return dispatch(pool, chosen.candidate, req, now, now, `${why}${chosen.reason}${note}${tier > 0 ? '; fallback tier' : ''}`)
}

function dispatch(
  pool: PoolConfig,
  c: Candidate,
  req: RequestEstimate,
  at: number,
  now: number,
  reason: string,
  wait?: 'queue' | 'pace',
): Decision {
  addUsage(c.usage, at, 1, c.reserve)
  if (c.usage !== c.state.usage) addUsage(c.state.usage, at, 1, c.reserve)
  recordSend(c.state.pacing, at)
  if (c.probe) takeProbe(c.state.breaker, at)
  if (c.misconfiguredProbe && c.state.misconfigured) c.state.misconfigured.probing = at
  if (c.reserveUsd > 0 && c.state.spend) holdSpend(c.state.spend, at, c.reserveUsd)
  holdDayTokens(c.dayLedger, at, c.reserve)
  const stat = c.state.latency[req.stream ? 'stream' : 'converse']
  if (freshLatency(stat, now, pool.latencyTtlMs) === null && !measurementPending(stat, now, probeTimeoutMs(pool))) {
    stat.pendingSince = now
  }
  const probe = c.probe || c.misconfiguredProbe
  const reservation = { deploymentId: c.deployment.id, at, tokens: c.reserve, ...(probe ? { probe: true } : {}), ...(c.reserveUsd > 0 ? { usd: c.reserveUsd } : {}) }
  const why = c.misconfiguredProbe ? `${reason}; probing a misconfigured deployment` : reason
  return at > now
    ? { kind: 'dispatch', deploymentId: c.deployment.id, reservation, reason: why, notBefore: at, wait: wait ?? 'queue' }
    : { kind: 'dispatch', deploymentId: c.deployment.id, reservation, reason: why }
}

/** Reserve the earliest moment, within maxQueueMs, when a deployment's configured window has room. */
function queue(pool: PoolConfig, candidates: readonly Candidate[], req: RequestEstimate, now: number): Decision | null {
  const last = now + pool.maxQueueMs
  let best: Candidate | null = null
  let bestAt = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    if (c.tried || c.block !== 'window-full') continue
    const at = availableAt(c, now, last)
    if (at < bestAt || (at === bestAt && best !== null && c.tier < best.tier)) {
      best = c
      bestAt = at
    }
  }
  if (!best || bestAt > last) return null
  const reason = `queued ${Math.round(bestAt - now)} ms for window room${tierNote(best)}`
  return dispatch(pool, best, req, bestAt, now, reason, 'queue')
}

/** Every deployment is hard-blocked: say which and why, and when one frees up. */
function reject(candidates: readonly Candidate[], req: RequestEstimate, now: number): Decision {
  if (candidates.length === 0) {
    return { kind: 'reject', status: 503, errorType: 'ServiceUnavailableException', retryAfterMs: DEFAULT_RETRY_AFTER_MS, reason: 'the pool has no deployments' }
  }
  let full = false
  let soonest = Number.POSITIVE_INFINITY
  const why: string[] = []
  for (const c of candidates) {
    const at = availableAt(c, now)
    soonest = Math.min(soonest, at)
    const id = c.deployment.id
    if (c.tried) why.push(`${id}: already tried`)
    else if (c.block === 'window-full') {
      full = true
      why.push(at === Number.POSITIVE_INFINITY ? `${id}: the request exceeds its ${fullLimits(c)}` : `${id}: ${fullLimits(c)} window full for ${seconds(at - now)}`)
    } else if (c.block === 'budget-spent' && c.budget) {
      full = true
      const b = c.budget
      why.push(
        b.unit === 'tokens'
          ? b.spent >= b.budget
            ? `${id}: its ${b.budget} tokens per day are used (${Math.round(b.spent)}), until ${new Date(b.until).toISOString()}`
            : `${id}: its ${b.budget} tokens per day are held by requests in flight`
          : b.spent >= b.budget
            ? `${id}: its budget of $${b.budget} per ${b.period} is spent ($${b.spent.toFixed(4)}), until ${new Date(b.until).toISOString()}`
            : `${id}: its budget of $${b.budget} per ${b.period} is held by requests in flight`,
      )
    } else if (c.block === 'misconfigured') {
      why.push(`${id}: misconfigured (${c.state.misconfigured?.errorType ?? 'upstream said so'}), next probe in ${seconds(at - now)}`)
    } else if (c.block === 'not-allowed') {
      why.push(`${id}: not among the deployments the routing rule allows`)
    } else if (c.block === 'other-family') {
      why.push(`${id}: serves ${c.deployment.family} models, and the request is in ${req.family}'s native format`)
    }
  }
  const wait = soonest - now
  const retryAfterMs = wait > 0 && Number.isFinite(wait) ? Math.ceil(wait) : DEFAULT_RETRY_AFTER_MS
  if (full) {
    const never = soonest === Number.POSITIVE_INFINITY
    return {
      kind: 'reject',
      status: 429,
      errorType: 'ThrottlingException',
      retryAfterMs: never ? TOO_LARGE_RETRY_AFTER_MS : retryAfterMs,
      reason: `${never ? 'the request exceeds the configured limits of every deployment' : 'every deployment is at its configured limit'}: ${why.join('; ')}`,
    }
  }
  return {
    kind: 'reject',
    status: 503,
    errorType: 'ServiceUnavailableException',
    retryAfterMs,
    reason: `no deployment can take the request: ${why.join('; ')}`,
  }
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`
}
