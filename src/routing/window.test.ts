import { describe, expect, it } from 'vitest'
import type { UsageBucket } from './types'
import { addUsage, firstFittingSlot, pruneUsage, slotOf, windowTotals } from './window'

const S0 = 1_700_000_000 // a second
const ms = (sec: number, offset = 0) => sec * 1000 + offset
const unlimited = { rpm: Infinity, tpm: Infinity }

describe('usage window', () => {
  it('keeps slots sorted and merges usage of the same second', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, ms(S0 + 2), 1, 10)
    addUsage(usage, ms(S0), 1, 5)
    addUsage(usage, ms(S0 + 2, 999), 1, 1)
    expect(usage).toEqual([
      { sec: S0, requests: 1, tokens: 5 },
      { sec: S0 + 2, requests: 2, tokens: 11 },
    ])
  })

  it('never goes below zero and does not create slots to release from', () => {
    const usage: UsageBucket[] = [{ sec: S0, requests: 1, tokens: 5 }]
    addUsage(usage, ms(S0), -2, -10)
    addUsage(usage, ms(S0 + 5), -1, -1)
    expect(usage).toEqual([{ sec: S0, requests: 0, tokens: 0 }])
  })

  it('counts a slot for 61 seconds (Bedrock may hold a request until 60 s after its last millisecond)', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, ms(S0, 900), 1, 100)
    expect(windowTotals(usage, ms(S0 + 60, 999)).requests).toBe(1)
    expect(windowTotals(usage, ms(S0 + 61)).requests).toBe(0)
    pruneUsage(usage, ms(S0 + 60, 500))
    expect(usage).toHaveLength(1)
    pruneUsage(usage, ms(S0 + 61))
    expect(usage).toHaveLength(0)
  })

  it('separates future reservations from the current window', () => {
    const usage: UsageBucket[] = []
    addUsage(usage, ms(S0), 2, 20)
    addUsage(usage, ms(S0 + 3), 1, 7)
    expect(windowTotals(usage, ms(S0, 500))).toEqual({ requests: 2, tokens: 20, queuedRequests: 1, queuedTokens: 7 })
  })

  it('finds room now when the window has it', () => {
    const usage: UsageBucket[] = [{ sec: S0 - 10, requests: 9, tokens: 0 }]
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 10, tpm: Infinity })).toBe(S0)
    expect(firstFittingSlot([], S0, 1, 0, unlimited)).toBe(S0)
  })

  it('waits until enough old usage leaves the window', () => {
    const usage: UsageBucket[] = [
      { sec: S0 - 50, requests: 5, tokens: 0 },
      { sec: S0 - 20, requests: 5, tokens: 0 },
    ]
    // 10 of 10 used: the first slot leaves at (S0-50)+61
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 10, tpm: Infinity })).toBe(S0 + 11)
    // a limit of 5 leaves room only when both slots have left
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 5, tpm: Infinity })).toBe(S0 - 20 + 61)
    expect(firstFittingSlot(usage, S0, 1, 600, { rpm: Infinity, tpm: 500 })).toBe(-1) // larger than the limit
  })

  it('takes tokens into account', () => {
    const usage: UsageBucket[] = [
      { sec: S0 - 30, requests: 1, tokens: 700 },
      { sec: S0 - 10, requests: 1, tokens: 200 },
    ]
    expect(firstFittingSlot(usage, S0, 1, 100, { rpm: Infinity, tpm: 1000 })).toBe(S0)
    expect(firstFittingSlot(usage, S0, 1, 200, { rpm: Infinity, tpm: 1000 })).toBe(S0 - 30 + 61)
    expect(firstFittingSlot(usage, S0, 1, 900, { rpm: Infinity, tpm: 1000 })).toBe(S0 - 10 + 61)
  })

  it('never over-commits a future window: a reservation must fit every window that will contain it', () => {
    // Window full until S0+5 (old slot), and a queued reservation already sits at S0+5.
    const usage: UsageBucket[] = [
      { sec: S0 - 56, requests: 2, tokens: 0 },
      { sec: S0 + 5, requests: 2, tokens: 0 },
    ]
    const limits = { rpm: 2, tpm: Infinity }
    // At S0+5 the old slot has left but the queued one has entered: the next gap is when the queued one leaves.
    expect(firstFittingSlot(usage, S0, 1, 0, limits)).toBe(S0 + 5 + 61)
    // With a limit of 3 it fits now: 2 + 1 now, and 2 (queued) + 1 once the old slot has left.
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 3, tpm: Infinity })).toBe(S0)
    // ...but not with a queued reservation of 3 (3 + 1 > 3 at S0+5): after the queued one leaves.
    const fuller: UsageBucket[] = [usage[0], { sec: S0 + 5, requests: 3, tokens: 0 }]
    expect(firstFittingSlot(fuller, S0, 1, 0, { rpm: 3, tpm: Infinity })).toBe(S0 + 5 + 61)
    // A slot that would still be counted when the queued reservation enters is refused even if it fits now.
    const roomNow: UsageBucket[] = [{ sec: S0 + 30, requests: 3, tokens: 0 }]
    expect(firstFittingSlot(roomNow, S0, 1, 0, { rpm: 3, tpm: Infinity })).toBe(S0 + 30 + 61)
  })

  it('respects the search horizon', () => {
    const usage: UsageBucket[] = [{ sec: S0 - 10, requests: 1, tokens: 0 }]
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 1, tpm: Infinity }, S0 + 50)).toBe(-1)
    expect(firstFittingSlot(usage, S0, 1, 0, { rpm: 1, tpm: Infinity }, S0 + 51)).toBe(S0 + 51)
  })

  it('maps milliseconds to slots', () => {
    expect(slotOf(ms(S0, 999))).toBe(S0)
    expect(slotOf(ms(S0 + 1))).toBe(S0 + 1)
  })
})
