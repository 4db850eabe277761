/** The contract of a routing strategy: choose one of the eligible candidates of the best tier. */
import type { PoolConfig } from '../../config/types'
import type { Candidate } from '../candidates'
import { weightedIndex } from '../random'
import type { RequestEstimate } from '../types'

export interface StrategyContext {
  pool: PoolConfig
  req: RequestEstimate
  now: number
  rng: () => number
}

export interface Pick {
  candidate: Candidate
  reason: string
}

/** `candidates` is non-empty: every one is usable now and in the same tier. */
export type Strategy = (candidates: readonly Candidate[], ctx: StrategyContext) => Pick

/** Weighted random by deployment weight; uniform when every weight is 0. */
export function pickByWeight(candidates: readonly Candidate[], rng: () => number): Candidate {
  const i = weightedIndex(candidates.length, (k) => candidates[k].deployment.weight, rng)
  return candidates[i >= 0 ? i : Math.min(candidates.length - 1, Math.floor(rng() * candidates.length))]
}

/** The candidates whose score is within `tolerance` of the best (lowest when `lowest`, else highest). */
export function nearBest(
  candidates: readonly Candidate[],
  score: (c: Candidate) => number,
  lowest: boolean,
  tolerance: number,
): Candidate[] {
  let best = lowest ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY
  for (const c of candidates) {
    const s = score(c)
    if (lowest ? s < best : s > best) best = s
  }
  if (!Number.isFinite(best)) return candidates.filter((c) => score(c) === best)
  return candidates.filter((c) => Math.abs(score(c) - best) <= tolerance)
}

export function formatMs(ms: number): string {
  return `${Math.round(ms)} ms`
}
