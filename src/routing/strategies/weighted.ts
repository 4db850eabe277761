/**
 * `weighted`: weighted random among the usable deployments of the best tier (the multiplexer sample's strict tiers:
 * fallbacks only serve when no primary is usable). It does not look at rpm/tpm windows; a 429 cools a deployment briefly.
 */
import { pickByWeight, type Strategy } from './strategy'

export const weighted: Strategy = (candidates, { rng }) => ({
  candidate: pickByWeight(candidates, rng),
  reason: 'weighted random',
})
