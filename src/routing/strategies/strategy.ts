/**
 * The contract of a routing strategy. A strategy describes itself (StrategyDefinition): how it picks, whether it keeps
 * deployments within their configured windows, whether it can queue, its own tiers and its own config checks. Adding
 * one is its file plus a line in ./index.ts; nothing else names strategies.
 */
import type { DeploymentConfig, PoolConfig } from '../../config/types'
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

export interface StrategyDefinition {
  /** One line: how it picks (README, errors). */
  summary: string
  /** Keeps deployments within their configured rpm/tpm windows (the others only account usage). */
  usesWindows: boolean
  /** A request may wait (`maxQueueMs`) for window room when every deployment is full. */
  canQueue: boolean
  /** Extra tier of a deployment, after primary (0) / fallback (1): higher tiers serve only when lower ones cannot. */
  tierOf?(deployment: DeploymentConfig): number
  /** Problems with a pool that uses it, each a sentence naming the field (`where` is the pool's path). */
  validate?(deployments: readonly DeploymentConfig[], where: string): string[]
  pick: Strategy
}

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
