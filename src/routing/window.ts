/**
 * Sliding 60-second usage window of one deployment, as sparse buckets (`UsageBucket`), bounded and cheap to update.
 *
 * Bedrock counts a request from the moment it arrives until 60 s later. A bucket gathers the requests that arrive in
 * one 500 ms slot (floor(ms / SLOT_MS)) and keeps the exact times of the first and the last of them: it counts from
 * `first` until `last` + 60 s. So it never releases capacity before Bedrock does, and holds a request no longer than
 * the spread of its bucket (nothing for a bucket of one request, or of requests sent at the same moment, and under
 * 500 ms otherwise): at most 121 buckets cover a window, whatever the rate.
 *
 * Buckets after "now" hold reservations of queued requests (`notBefore`). A reservation at t joins the bucket of t's
 * slot, which then spans both, so it fits only if every window that merged bucket counts in — from its first arrival
 * (or now) until its last + 60 s — stays within the limits. This is what keeps the window from being over-committed at
 * any instant, now or later, and makes later arrivals queue behind earlier ones.
 */
import type { UsageBucket } from './types'

export const WINDOW_MS = 60_000
/** Requests arriving in the same slot share a bucket. */
export const SLOT_MS = 500
/** Tolerance for fractional settled token counts. */
const EPSILON = 1e-9

export function slotOf(ms: number): number {
  return Math.floor(ms / SLOT_MS)
}

/** When a bucket stops counting: 60 s after its last arrival. */
export function leavesAt(bucket: UsageBucket): number {
  return bucket.last + WINDOW_MS
}

/**
 * State persisted before buckets had exact times holds `{ sec, requests, tokens }` (1-second slots counted for 61
 * seconds). Such a bucket becomes one spanning its whole second (first = its first millisecond, last = its last), so it
 * counts as long as Bedrock may count any request it holds. Such a bucket spans several slots; requests in any of them
 * join it. Converts in place; a no-op on current state.
 */
export function upgradeUsage(usage: UsageBucket[]): void {
  if (usage.length === 0 || typeof usage[0].first === 'number') return
  for (let i = 0; i < usage.length; i++) usage[i] = upgradedBucket(usage[i])
}

function upgradedBucket(bucket: UsageBucket): UsageBucket {
  if (typeof bucket.first === 'number') return bucket
  const legacy = bucket as unknown as { sec: number; requests: number; tokens: number }
  const start = legacy.sec * 1000
  return { first: start, last: start + 999, requests: legacy.requests, tokens: legacy.tokens }
}

/** Drops buckets that no longer count toward the window at `now` (never future ones). */
export function pruneUsage(usage: UsageBucket[], now: number): void {
  let drop = 0
  while (drop < usage.length && leavesAt(usage[drop]) <= now) drop++
  if (drop > 0) usage.splice(0, drop)
}

/**
 * Adds (or, with negative amounts, removes) usage of the request that arrives (arrived) at `at`, in the bucket of its
 * slot; amounts never go below 0. A new request (requests > 0) widens the bucket to include `at`; settling or
 * releasing one never narrows it.
 */
export function addUsage(usage: UsageBucket[], at: number, requests: number, tokens: number): void {
  const slot = slotOf(at)
  let i = usage.length - 1
  while (i >= 0 && slotOf(usage[i].first) > slot) i--
  if (i >= 0 && slotOf(usage[i].last) >= slot) {
    const bucket = usage[i]
    bucket.requests = Math.max(0, bucket.requests + requests)
    bucket.tokens = Math.max(0, bucket.tokens + tokens)
    if (requests > 0) {
      if (at < bucket.first) bucket.first = at
      if (at > bucket.last) bucket.last = at
    }
    return
  }
  if (requests <= 0 && tokens <= 0) return // nothing to release: the bucket is gone
  usage.splice(i + 1, 0, { first: at, last: at, requests: Math.max(0, requests), tokens: Math.max(0, tokens) })
}

export interface WindowTotals {
  /** In the window at `now` (buckets that started by now). */
  requests: number
  tokens: number
  /** Reserved in buckets after now (queued requests). */
  queuedRequests: number
  queuedTokens: number
}

export function windowTotals(usage: readonly UsageBucket[], now: number): WindowTotals {
  let requests = 0
  let tokens = 0
  let queuedRequests = 0
  let queuedTokens = 0
  for (let i = 0; i < usage.length; i++) {
    const bucket = usage[i]
    if (bucket.last + WINDOW_MS <= now) continue
    if (bucket.first <= now) {
      requests += bucket.requests
      tokens += bucket.tokens
    } else {
      queuedRequests += bucket.requests
      queuedTokens += bucket.tokens
    }
  }
  return { requests, tokens, queuedRequests, queuedTokens }
}

/** Limits to keep every window within; Infinity = unlimited. */
export interface WindowLimits {
  rpm: number
  tpm: number
}

/**
 * Whether a request needing `requests` / `tokens` fits now: `firstFittingTime(usage, now, now, …) === now`, mostly
 * answered from the totals at `now` (`windowTotals(usage, now)`) without a sweep:
 * - everything any later window can count (window and queued) leaves room: it fits;
 * - the window at now has no room: it does not;
 * - nothing is queued: windows after now only shrink, so it fits.
 */
export function fitsNow(
  usage: readonly UsageBucket[],
  totals: WindowTotals,
  now: number,
  requests: number,
  tokens: number,
  limits: WindowLimits,
): boolean {
  const rpm = limits.rpm + EPSILON
  const tpm = limits.tpm + EPSILON
  if (totals.requests + totals.queuedRequests + requests <= rpm && totals.tokens + totals.queuedTokens + tokens <= tpm) return true
  if (totals.requests + requests > rpm || totals.tokens + tokens > tpm) return false
  if (totals.queuedRequests === 0 && totals.queuedTokens === 0) return true
  return firstFittingTime(usage, now, now, requests, tokens, limits, now, totals) === now
}

/**
 * The earliest moment t ≥ max(`from`, `now`), and ≤ `lastMs`, when a request needing `requests` / `tokens` fits; -1 if
 * none does. It fits at t if, once it has joined the bucket of t's slot (which then spans min(first, t) … max(last,
 * t)), every window from `now` on that the merged bucket counts in stays within the limits. Earlier windows are
 * history.
 *
 * One sweep over the buckets, O(buckets): the window total only changes where a bucket enters (`first`) or leaves
 * (`last` + 60 s), and both event streams are sorted because the buckets are (disjoint, ascending), so they merge
 * without allocation. When a window is too full, the candidate moves past it and the sweep never goes back. (So in
 * one rare case — a candidate too full only because joining its bucket would keep that bucket too long — the next
 * candidate joining the following slot's bucket is taken at that bucket's first arrival, when a moment up to one slot
 * earlier might have fitted: later than necessary, never too early.) Given `windowTotals(usage, now)` as `atNow`, a
 * search from now starts from them instead of summing the window again.
 */
export function firstFittingTime(
  usage: readonly UsageBucket[],
  now: number,
  from: number,
  requests: number,
  tokens: number,
  limits: WindowLimits,
  lastMs = Number.POSITIVE_INFINITY,
  atNow?: WindowTotals,
): number {
  const rpm = limits.rpm + EPSILON
  const tpm = limits.tpm + EPSILON
  if (requests > rpm || tokens > tpm) return -1
  const n = usage.length
  // The sweep: the window at instant u, i.e. the buckets with first ≤ u < last + 60 s.
  let u = Number.NEGATIVE_INFINITY
  let wr = 0
  let wt = 0
  let enter = 0 // first bucket not yet entered (first > u)
  let leave = 0 // first bucket not yet left (last + 60 s > u)
  // The candidate t, the bucket it joins (own; -1: a new one), and the windows the merged bucket counts in: [start, end).
  let t = from > now ? from : now
  let own = -1
  let start = t
  let end = t + WINDOW_MS
  if (atNow !== undefined && t === now) {
    // The window at now, given: the first candidate's windows start at now whichever bucket it joins.
    wr = atNow.requests
    wt = atNow.tokens
    enter = n
    while (enter > 0 && usage[enter - 1].first > now) enter--
    while (leave < n && usage[leave].last + WINDOW_MS <= now) leave++
    u = now
  }
  // Buckets before b end in slots before t's. The first candidate is (near) now, which only queued buckets follow.
  let b = n
  const firstSlot = slotOf(t)
  while (b > 0 && slotOf(usage[b - 1].last) >= firstSlot) b--
  let aiming = true
  let behind = Number.NEGATIVE_INFINITY // a bucket that started by this instant cannot be joined (see below)
  for (;;) {
    if (aiming) {
      aiming = false
      if (t > lastMs) return -1
      let slot = slotOf(t)
      for (;;) {
        while (b < n && slotOf(usage[b].last) < slot) b++
        own = b < n && slotOf(usage[b].first) <= slot ? b : -1
        if (own < 0 || usage[own].first > behind) break
        // Joining it would count in window `behind` again, which is too full: try the slot after it.
        slot = slotOf(usage[own].last) + 1
        t = slot * SLOT_MS
        if (t > lastMs) return -1
      }
      if (own < 0) {
        start = t
        end = t + WINDOW_MS
      } else {
        const bucket = usage[own]
        start = bucket.first < t ? (bucket.first > now ? bucket.first : now) : t
        end = (bucket.last > t ? bucket.last : t) + WINDOW_MS
      }
      if (start > u) {
        for (; enter < n && usage[enter].first <= start; enter++) {
          wr += usage[enter].requests
          wt += usage[enter].tokens
        }
        for (; leave < n && usage[leave].last + WINDOW_MS <= start; leave++) {
          wr -= usage[leave].requests
          wt -= usage[leave].tokens
        }
        u = start
      }
    }
    if (u >= end) return t // every window the merged bucket counts in was checked
    // The merged bucket counts at u even where its bucket alone does not (before its first, after it leaves).
    let r = wr + requests
    let k = wt + tokens
    let widened = false
    if (own >= 0) {
      const bucket = usage[own]
      if (u < bucket.first || u >= bucket.last + WINDOW_MS) {
        r += bucket.requests
        k += bucket.tokens
        widened = true
      }
    }
    const over = r > rpm || k > tpm
    if (!over && enter >= n) return t // nothing enters later: the window only shrinks from here
    const nextEnter = enter < n ? usage[enter].first : Number.POSITIVE_INFINITY
    const nextLeave = leave < n ? usage[leave].last + WINDOW_MS : Number.POSITIVE_INFINITY
    const next = nextEnter < nextLeave ? nextEnter : nextLeave
    if (!over) {
      if (next === Number.POSITIVE_INFINITY) return t
      for (; enter < n && usage[enter].first <= next; enter++) {
        wr += usage[enter].requests
        wt += usage[enter].tokens
      }
      for (; leave < n && usage[leave].last + WINDOW_MS <= next; leave++) {
        wr -= usage[leave].requests
        wt -= usage[leave].tokens
      }
      u = next
      continue
    }
    aiming = true
    if (widened && u >= usage[own].last + WINDOW_MS && wr + requests <= rpm && wt + tokens <= tpm) {
      // Too full only because joining its bucket would keep that bucket longer: try the slot after it. The windows
      // before u that passed hold no more for a later candidate, provided it joins a bucket from that bucket's first
      // arrival (or starts a new one), so aim there.
      const slot = slotOf(usage[own].last) + 1
      t = own + 1 < n && slotOf(usage[own + 1].first) === slot ? usage[own + 1].first : slot * SLOT_MS
      behind = Number.NEGATIVE_INFINITY
      continue
    }
    // Window u is too full for any candidate counting in it: the next candidate starts after u (when the window
    // changes next), and joins no bucket that started by u.
    if (next === Number.POSITIVE_INFINITY) return -1
    if (next > t) t = next
    behind = u
  }
}
