/**
 * `bedrock-ipr`: deployments whose modelId is a Bedrock Prompt Router ARN; Bedrock picks the model, the router picks
 * the healthiest router deployment: weight × (1 − recent failure rate), a quarter of that while its breaker is
 * half-open (so it still gets its probes). Plain model deployments in the pool only serve when no router is usable
 * (they are a lower tier, see candidates.ts).
 */
import { windowCounts } from '../breaker'
import { weightedIndex } from '../random'
import { isPromptRouterArn } from '../models'
import { pickByWeight, type Strategy, type StrategyDefinition } from './strategy'

const HALF_OPEN_SHARE = 0.25

const pick: Strategy = (candidates, { pool, now, rng }) => {
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

export const promptRouter: StrategyDefinition = {
  summary: 'Bedrock Intelligent Prompt Router ARNs by health and weight; Bedrock picks the model',
  usesWindows: false,
  canQueue: false,
  tierOf: (d) => (isPromptRouterArn(d.modelId) ? 0 : 2),
  validate: (deployments, where) =>
    deployments.flatMap((d, i) =>
      isPromptRouterArn(d.modelId) ? [] : [`${where}.deployments[${i}].modelId: the bedrock-ipr strategy needs a prompt-router ARN`],
    ),
  pick,
}
