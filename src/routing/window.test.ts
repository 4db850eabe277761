import { describe, expect, it } from 'vitest'
import { mulberry32 } from './random'
import type { UsageBucket } from './types'
import { addUsage, firstFittingTime, fitsNow, pruneUsage, slotOf, SLOT_MS, upgradeUsage, WINDOW_MS, windowTotals } from './window'

const T = 1_700_000_000_000 // epoch ms, at a slot boundary
const unlimited = { rpm: Infinity, tpm: Infinity }
/** A bucket of `requests` arriving at `first` … `last` (default: all at `first`). */
const bucket = (first: number, requests: number, tokens = 0, last = first): UsageBucket => ({ first, last, requests, tokens })

describe('usage window', () => {
  it('keeps buckets sorted, merges usage of the same slot and keeps its first and last arrival', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, T + 2000, 1, 10)
    addUsage(usage, T, 1, 5)
    addUsage(usage, T + 2000 + SLOT_MS - 1, 1, 1)
    addUsage(usage, T + 2100, 1, 1)
    expect(usage).toEqual([
      { first: T, last: T, requests: 1, tokens: 5 },
      { first: T + 2000, last: T + 2000 + SLOT_MS - 1, requests: 3, tokens: 12 },
    ])
    addUsage(usage, T + 2000 + SLOT_MS, 1, 1) // the next slot: a bucket of its own
    expect(usage).toHaveLength(3)
  })

  it('never goes below zero, does not create buckets to release from, and settling never narrows a bucket', () => {
    const usage: UsageBucket[] = [bucket(T, 1, 5, T + 100)]
    addUsage(usage, T + 100, -2, -10)
    addUsage(usage, T + 5000, -1, -1)
    expect(usage).toEqual([{ first: T, last: T + 100, requests: 0, tokens: 0 }])
    addUsage(usage, T + 50, 0, 7) // settling a request of the bucket: its span stays
    expect(usage).toEqual([{ first: T, last: T + 100, requests: 0, tokens: 7 }])
  })

  it('counts a request for exactly 60 s after it arrived, as Bedrock does', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, T + 900, 1, 100)
    expect(windowTotals(usage, T + 899).queuedRequests).toBe(1) // not arrived yet
    expect(windowTotals(usage, T + 900).requests).toBe(1)
    expect(windowTotals(usage, T + 60_899).requests).toBe(1)
    expect(windowTotals(usage, T + 60_900).requests).toBe(0)
    pruneUsage(usage, T + 60_899)
    expect(usage).toHaveLength(1)
    pruneUsage(usage, T + 60_900)
    expect(usage).toHaveLength(0)
  })

  it('counts a bucket from its first arrival until 60 s after its last (never releasing one of them early)', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, T + 100, 1, 0)
    addUsage(usage, T + 400, 1, 0)
    expect(windowTotals(usage, T + 60_399).requests).toBe(2)
    expect(windowTotals(usage, T + 60_400).requests).toBe(0)
  })

  it('separates future reservations from the current window', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, T, 2, 20)
    addUsage(usage, T + 3000, 1, 7)
    expect(windowTotals(usage, T + 500)).toEqual({ requests: 2, tokens: 20, queuedRequests: 1, queuedTokens: 7 })
  })

  it('finds room now when the window has it', () => {
    const usage: UsageBucket[] = [bucket(T - 10_000, 9)]
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 10, tpm: Infinity })).toBe(T)
    expect(firstFittingTime([], T, T, 1, 0, unlimited)).toBe(T)
  })

  it('waits until enough old usage leaves the window, to the millisecond', () => {
    const usage: UsageBucket[] = [bucket(T - 50_000, 5, 0, T - 49_700), bucket(T - 20_000, 5, 0, T - 19_900)]
    // 10 of 10 used: the first bucket leaves 60 s after its last arrival
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 10, tpm: Infinity })).toBe(T - 49_700 + WINDOW_MS)
    // a limit of 5 leaves room only when both buckets have left
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 5, tpm: Infinity })).toBe(T - 19_900 + WINDOW_MS)
    expect(firstFittingTime(usage, T, T, 1, 600, { rpm: Infinity, tpm: 500 })).toBe(-1) // larger than the limit
  })

  it('takes tokens into account', () => {
    const usage: UsageBucket[] = [bucket(T - 30_000, 1, 700), bucket(T - 10_000, 1, 200)]
    expect(firstFittingTime(usage, T, T, 1, 100, { rpm: Infinity, tpm: 1000 })).toBe(T)
    expect(firstFittingTime(usage, T, T, 1, 200, { rpm: Infinity, tpm: 1000 })).toBe(T - 30_000 + WINDOW_MS)
    expect(firstFittingTime(usage, T, T, 1, 900, { rpm: Infinity, tpm: 1000 })).toBe(T - 10_000 + WINDOW_MS)
  })

  it('never over-commits a future window: a reservation must fit every window that will contain it', () => {
    // Window full until T+5 s (old bucket), and a queued reservation already sits at T+5 s.
    const usage: UsageBucket[] = [bucket(T - 55_000, 2), bucket(T + 5000, 2)]
    const limits = { rpm: 2, tpm: Infinity }
    // At T+5 s the old bucket has left but the queued one has entered: the next gap is when the queued one leaves.
    expect(firstFittingTime(usage, T, T, 1, 0, limits)).toBe(T + 5000 + WINDOW_MS)
    // With a limit of 3 it fits now: 2 + 1 now, and 2 (queued) + 1 once the old bucket has left.
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 3, tpm: Infinity })).toBe(T)
    // ...but not with a queued reservation of 3 (3 + 1 > 3 at T+5 s): after the queued one leaves.
    const fuller: UsageBucket[] = [usage[0], bucket(T + 5000, 3)]
    expect(firstFittingTime(fuller, T, T, 1, 0, { rpm: 3, tpm: Infinity })).toBe(T + 5000 + WINDOW_MS)
    // A request that would still be counted when the queued reservation enters is refused even if it fits now.
    const roomNow: UsageBucket[] = [bucket(T + 30_000, 3)]
    expect(firstFittingTime(roomNow, T, T, 1, 0, { rpm: 3, tpm: Infinity })).toBe(T + 30_000 + WINDOW_MS)
  })

  it('a request joining a bucket keeps that bucket longer: every window it then counts in must have room', () => {
    const limits = { rpm: 3, tpm: Infinity }
    // Now = T+300; the bucket of this slot holds a request from T.
    expect(firstFittingTime([bucket(T, 1)], T + 300, T + 300, 1, 0, limits)).toBe(T + 300)
    // With 2 requests queued for T+60.2 s, joining T's bucket would keep it (2 requests) until T+60.3 s: 4 > 3 from
    // T+60.2 s. A bucket of its own in the next slot is counted with the queued ones (3) only after T's has left.
    expect(firstFittingTime([bucket(T, 1), bucket(T + 60_200, 2)], T + 300, T + 300, 1, 0, limits)).toBe(T + SLOT_MS)
  })

  it('queues at the moment room appears, and later reservations behind earlier ones (FIFO)', () => {
    const usage: UsageBucket[] = [bucket(T - 40_000, 1), bucket(T - 39_750, 1)]
    const limits = { rpm: 2, tpm: Infinity }
    const first = firstFittingTime(usage, T, T, 1, 0, limits)
    expect(first).toBe(T - 40_000 + WINDOW_MS) // to the millisecond
    addUsage(usage, first, 1, 0)
    // Room again when the second old request leaves (T+20.25 s), but joining the first reservation's bucket there
    // would count it from T+20 s, when the window is full: the next slot.
    const second = firstFittingTime(usage, T + 1, T + 1, 1, 0, limits)
    expect(second).toBe(T + 20_000 + SLOT_MS)
    addUsage(usage, second, 1, 0)
    // Not before the reservations ahead of it have left.
    expect(firstFittingTime(usage, T + 2, T + 2, 1, 0, limits)).toBe(first + WINDOW_MS)
  })

  it('respects the search horizon', () => {
    const usage: UsageBucket[] = [bucket(T - 10_000, 1)]
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 1, tpm: Infinity }, T + 49_999)).toBe(-1)
    expect(firstFittingTime(usage, T, T, 1, 0, { rpm: 1, tpm: Infinity }, T + 50_000)).toBe(T + 50_000)
  })

  it('starts the search at `from`, checking the windows from now that joining a bucket adds to', () => {
    const usage: UsageBucket[] = [bucket(T - 20_000, 1)]
    expect(firstFittingTime(usage, T, T + 2000, 1, 0, { rpm: 2, tpm: Infinity })).toBe(T + 2000)
    expect(firstFittingTime(usage, T, T + 2000, 1, 0, { rpm: 1, tpm: Infinity })).toBe(T + 40_000)
  })

  it('maps milliseconds to slots', () => {
    expect(slotOf(T + SLOT_MS - 1)).toBe(T / SLOT_MS)
    expect(slotOf(T + SLOT_MS)).toBe(T / SLOT_MS + 1)
  })

  it('upgrades state persisted with 1-second slots to buckets that count exactly as long as they did', () => {
    const sec = T / 1000
    const legacy = [
      { sec: sec - 30, requests: 2, tokens: 20 },
      { sec: sec + 2, requests: 1, tokens: 5 },
    ] as unknown as UsageBucket[]
    upgradeUsage(legacy)
    expect(legacy).toEqual([
      { first: T - 30_000, last: T - 29_001, requests: 2, tokens: 20 },
      { first: T + 2000, last: T + 2999, requests: 1, tokens: 5 },
    ])
    // counted from its second's start until 61 s after it (as a 1-second slot was), then gone
    expect(windowTotals(legacy, T + 1999)).toMatchObject({ requests: 2, queuedRequests: 1 })
    expect(windowTotals(legacy, T + 2000)).toMatchObject({ requests: 3, queuedRequests: 0 })
    expect(windowTotals(legacy, T + 30_998)).toMatchObject({ requests: 3 })
    expect(windowTotals(legacy, T + 30_999)).toMatchObject({ requests: 1 })
    // a request in either half of an upgraded second joins its bucket, and settling finds it
    addUsage(legacy, T + 2700, 1, 1)
    addUsage(legacy, T + 2100, 0, -5)
    expect(legacy[1]).toEqual({ first: T + 2000, last: T + 2999, requests: 2, tokens: 1 })
  })

  it('never over-commits, finds the earliest fit and keeps the buckets disjoint, against an exhaustive check', () => {
    // (and so do the shortcuts: fitsNow for "does it fit now", and a search from now given the totals at now)
    // Exhaustive: a candidate time fits if, after adding the request there, every window from now that changed is
    // within the limits. The earliest fit is at `from`, a bucket's entry or exit, or the start of the slot after a
    // bucket's (elsewhere, moving a candidate earlier never makes it fit less).
    const fits = (usage: UsageBucket[], now: number, t: number, tokens: number, limits: { rpm: number; tpm: number }) => {
      const after = structuredClone(usage)
      addUsage(after, t, 1, tokens)
      const points = new Set([now, ...after.flatMap((b) => [b.first, b.last + WINDOW_MS])].filter((p) => p >= now))
      const at = (list: UsageBucket[], p: number) =>
        list.reduce((s, b) => (b.first <= p && p < b.last + WINDOW_MS ? { r: s.r + b.requests, k: s.k + b.tokens } : s), { r: 0, k: 0 })
      for (const p of points) {
        const x = at(after, p)
        const y = at(usage, p)
        if ((x.r !== y.r || x.k !== y.k) && (x.r > limits.rpm || x.k > limits.tpm)) return false
      }
      return true
    }
    const rng = mulberry32(3)
    for (let trial = 0; trial < 30; trial++) {
      const limits = { rpm: 2 + Math.floor(rng() * 6), tpm: rng() < 0.5 ? Infinity : 4000 + Math.floor(rng() * 6000) }
      const usage: UsageBucket[] = []
      let now = T + Math.floor(rng() * 1000)
      for (let step = 0; step < 40; step++) {
        now += rng() < 0.5 ? Math.floor(rng() * 300) : Math.floor(rng() * 3000)
        pruneUsage(usage, now)
        const tokens = 100 + Math.floor(rng() * 2500)
        const from = rng() < 0.2 ? now + Math.floor(rng() * 5000) : now
        const got = firstFittingTime(usage, now, from, 1, tokens, limits)
        const candidates = new Set([from, ...usage.flatMap((b) => [b.first, b.last + WINDOW_MS, (slotOf(b.last) + 1) * SLOT_MS])])
        const want = [...candidates].filter((c) => c >= from).sort((a, b) => a - b).find((c) => fits(usage, now, c, tokens, limits)) ?? -1
        expect(got).toBe(want)
        if (from === now) expect(firstFittingTime(usage, now, from, 1, tokens, limits, Infinity, windowTotals(usage, now))).toBe(got)
        expect(fitsNow(usage, windowTotals(usage, now), now, 1, tokens, limits)).toBe(firstFittingTime(usage, now, now, 1, tokens, limits, now) === now)
        if (got >= 0) addUsage(usage, got, 1, tokens)
        for (let i = 0; i + 1 < usage.length; i++) {
          expect(usage[i].first).toBeLessThanOrEqual(usage[i].last)
          expect(slotOf(usage[i].last)).toBeLessThan(slotOf(usage[i + 1].first))
        }
      }
    }
  })
})
