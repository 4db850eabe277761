/**
 * `bedrock-ipr`: deployments whose modelId is a Bedrock Prompt Router ARN; Bedrock picks the model, the router picks
 * the healthiest router deployment: weight × (1 − recent failure rate), a quarter of that while its breaker is
 * half-open (so it still gets its probes). Plain model deployments in the pool only serve when no router is usable
 * (they are a lower tier, see candidates.ts).
 */
import { windowCounts } from '../breaker'
import { weightedIndex } from '../random'
import { pickByWeight, type Strategy } from './strategy'

const HALF_OPEN_SHARE = 0.25

export const promptRouter: Strategy = (candidates, { pool, now, rng }) => {
  const health = candidates.map((c) => {
    const { successes, failures } = windowCounts(c.state.breaker, pool.breaker, now)
    const total = successes + failures
    const ok = total > 0 ? successes / total : 1
    return c.deployment.weight * ok * (c.probe ? HALF_OPEN_SHARE : 1)
  })
  const i = weightedIndex(candidates.length, (k) => health[k], rng)
  const candidate = i >= 0 ? candidates[i] : pickByWeight(candidates, rng)
  return { candidate, reason: candidate.probe ? 'prompt router (half-open probe)' : 'prompt router by health' }
}
