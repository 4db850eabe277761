/**
 * Seeded pseudo-random numbers for the simulator's random faults (mulberry32: 32-bit state, period 2^32).
 * A copy of the router's src/routing/random.ts on purpose: the simulator is not part of the router and must not
 * change when the routing core is reworked.
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

/** Seed used when none is given, so that a simulator with random faults is reproducible by default. */
export const DEFAULT_SEED = 1
