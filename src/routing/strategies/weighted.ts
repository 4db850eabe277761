/**
 * `weighted`: weighted random among the usable deployments of the best tier (the multiplexer sample's strict tiers:
 * fallbacks only serve when no primary is usable). It does not look at rpm/tpm windows; a 429 cools a deployment briefly.
 */
import { pickByWeight, type StrategyDefinition } from './strategy'

export const weighted: StrategyDefinition = {
  summary: 'weighted random among usable primaries; fallbacks only when no primary is usable',
  usesWindows: false,
  canQueue: false,
  validate: (deployments, where) =>
    deployments.some((d) => !d.fallback && d.weight > 0) ? [] : [`${where}.deployments: the weighted strategy needs a primary with weight > 0`],
  pick: (candidates, { rng }) => ({ candidate: pickByWeight(candidates, rng), reason: 'weighted random' }),
}
