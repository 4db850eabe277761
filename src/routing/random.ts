/**
 * Seeded pseudo-random numbers for tests and simulations (mulberry32: 32-bit state, period 2^32).
 * The router itself takes `rng: () => number` as a parameter; production passes `Math.random`.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Index drawn with probability proportional to `weightOf(i)` over i in [0, count); -1 if the total weight is 0. */
export function weightedIndex(count: number, weightOf: (i: number) => number, rng: () => number): number {
  let total = 0
  for (let i = 0; i < count; i++) total += Math.max(0, weightOf(i))
  if (!(total > 0)) return -1
  let r = rng() * total
  let last = -1
  for (let i = 0; i < count; i++) {
    const w = Math.max(0, weightOf(i))
    if (w <= 0) continue
    last = i
    if (r < w) return i
    r -= w
  }
  return last // floating-point leftovers
}
