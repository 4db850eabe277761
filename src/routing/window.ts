/**
 * Sliding 60-second usage window of one deployment, as 1-second slots (`UsageBucket`), bounded and cheap to update.
 *
 * Bedrock counts a request from the moment it arrives until 60 s later. A slot `sec` covers arrivals in
 * [sec·1000, sec·1000 + 1000), so a request counted in it may still be in Bedrock's window until (sec + 61)·1000: a slot
 * therefore counts toward the windows at seconds sec … sec + 60 (61 slots), never releasing capacity before Bedrock does.
 * The price is ≤ 1/61 (1.6%) of the quota under a perfectly smooth full load.
 *
 * Slots after the current second hold reservations of queued requests (`notBefore`). Adding usage to slot b raises the
 * windows at b … b+60, so a reservation fits at b only if every one of those windows stays within the limits: this is
 * what keeps the window from being over-committed at any instant, now or later, and makes later arrivals queue behind
 * earlier ones.
 */
import type { UsageBucket } from './types'

export const WINDOW_MS = 60_000
export const SLOT_MS = 1000
/** Slots counted in each window (see above). */
export const SLOTS_PER_WINDOW = 61
/** Tolerance for fractional (learned) limits and settled token counts. */
const EPSILON = 1e-9

export function slotOf(ms: number): number {
  return Math.floor(ms / SLOT_MS)
}

/** Drops slots that no longer count toward the window at `now` (never future slots). */
export function pruneUsage(usage: UsageBucket[], now: number): void {
  const oldest = slotOf(now) - SLOTS_PER_WINDOW + 1
  let drop = 0
  while (drop < usage.length && usage[drop].sec < oldest) drop++
  if (drop > 0) usage.splice(0, drop)
}

/** Adds (or, with negative amounts, removes) usage in the slot of `at`; amounts never go below 0. */
export function addUsage(usage: UsageBucket[], at: number, requests: number, tokens: number): void {
  const sec = slotOf(at)
  let i = usage.length - 1
  while (i >= 0 && usage[i].sec > sec) i--
  if (i >= 0 && usage[i].sec === sec) {
    const slot = usage[i]
    slot.requests = Math.max(0, slot.requests + requests)
    slot.tokens = Math.max(0, slot.tokens + tokens)
    return
  }
  if (requests <= 0 && tokens <= 0) return // nothing to release: the slot is gone
  usage.splice(i + 1, 0, { sec, requests: Math.max(0, requests), tokens: Math.max(0, tokens) })
}

export interface WindowTotals {
  /** In the window at `now` (slots up to the current second). */
  requests: number
  tokens: number
  /** Reserved in future slots (queued requests). */
  queuedRequests: number
  queuedTokens: number
}

export function windowTotals(usage: readonly UsageBucket[], now: number): WindowTotals {
  const current = slotOf(now)
  const oldest = current - SLOTS_PER_WINDOW + 1
  const totals = { requests: 0, tokens: 0, queuedRequests: 0, queuedTokens: 0 }
  for (const slot of usage) {
    if (slot.sec < oldest) continue
    if (slot.sec <= current) {
      totals.requests += slot.requests
      totals.tokens += slot.tokens
    } else {
      totals.queuedRequests += slot.requests
      totals.queuedTokens += slot.tokens
    }
  }
  return totals
}

/** Limits to keep every window within; Infinity = unlimited. */
export interface WindowLimits {
  rpm: number
  tpm: number
}

/**
 * The first slot ≥ `fromSec` (and ≤ `lastSec`) where a request needing `requests` / `tokens` fits: adding it keeps every
 * window that would contain it (fromSec … fromSec+60) within the limits. -1 if none does.
 *
 * One sweep over the slots: the window total only changes where a slot enters (at its `sec`) or leaves (at sec + 61);
 * both event streams are sorted because the slots are, so they merge without allocation.
 */
export function firstFittingSlot(
  usage: readonly UsageBucket[],
  fromSec: number,
  requests: number,
  tokens: number,
  limits: WindowLimits,
  lastSec = Number.POSITIVE_INFINITY,
): number {
  if (requests > limits.rpm || tokens > limits.tpm) return -1
  const n = usage.length
  let wr = 0 // window totals at second `s`
  let wt = 0
  let enter = 0 // first slot not yet entered (sec > s)
  let leave = 0 // first slot not yet left (sec + 61 > s)
  for (; enter < n && usage[enter].sec <= fromSec; enter++) {
    const slot = usage[enter]
    if (slot.sec + SLOTS_PER_WINDOW > fromSec) {
      wr += slot.requests
      wt += slot.tokens
    } else leave = enter + 1
  }
  let candidate = fromSec
  let s = fromSec
  for (;;) {
    if (candidate > lastSec) return -1
    if (s > candidate + SLOTS_PER_WINDOW - 1) return candidate // every window containing it was checked
    const over = wr + requests > limits.rpm + EPSILON || wt + tokens > limits.tpm + EPSILON
    if (!over && enter >= n) return candidate // no later arrivals: the window only shrinks from here
    const nextEnter = enter < n ? usage[enter].sec : Number.POSITIVE_INFINITY
    const nextLeave = leave < n ? usage[leave].sec + SLOTS_PER_WINDOW : Number.POSITIVE_INFINITY
    const next = Math.min(nextEnter, nextLeave)
    if (next === Number.POSITIVE_INFINITY) return over ? -1 : candidate
    if (over) candidate = next // windows s … next-1 are too full: start after them
    s = next
    while (enter < n && usage[enter].sec === s) {
      wr += usage[enter].requests
      wt += usage[enter].tokens
      enter++
    }
    while (leave < n && usage[leave].sec + SLOTS_PER_WINDOW === s) {
      wr -= usage[leave].requests
      wt -= usage[leave].tokens
      leave++
    }
  }
}
