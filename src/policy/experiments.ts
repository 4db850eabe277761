/**
 * Experiments: A/B tests of strategies (or pools) on live traffic. A request is assigned an arm by weight; with a
 * sticky key (the client, a header, a tag) the same caller always lands in the same arm — a hash of the experiment's
 * name and the key, so every isolate agrees without shared state. The arm goes into the trace (`x-router-arm`) and the
 * accounting (`/stats?by=arm`, with the arms compared: stats/compare.ts).
 */
import type { ExperimentArm, ExperimentConfig, RequestFeatures } from './types'

/** The caller's sticky key, or undefined (then each request is drawn anew). */
export function stickyKey(experiment: ExperimentConfig, features: RequestFeatures): string | undefined {
  const sticky = experiment.sticky
  if (!sticky) return undefined
  if (sticky === 'client') return features.client
  if (sticky.startsWith('header:')) return features.header(sticky.slice(7).toLowerCase())
  const tag = sticky.slice(4)
  return Object.hasOwn(features.tags, tag) ? features.tags[tag] : undefined
}

/** The arm for a key (deterministic), or for a random draw when there is none. */
export function assignArm(experiment: ExperimentConfig, key: string | undefined, rng: () => number): ExperimentArm {
  const u = key === undefined ? rng() : unitHash(`${experiment.name}\n${key}`)
  const total = experiment.arms.reduce((s, a) => s + a.weight, 0)
  let at = u * total
  for (const arm of experiment.arms) {
    if (at < arm.weight) return arm
    at -= arm.weight
  }
  return experiment.arms[experiment.arms.length - 1]
}

/** FNV-1a (32 bit) of the text with a final avalanche (keys that differ in one character spread evenly), in [0, 1). */
export function unitHash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) / 2 ** 32
}
