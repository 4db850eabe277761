/**
 * `cost`: the cheapest usable deployment with headroom for this request (price × expected tokens); equal prices are
 * broken by headroom, then weight. Deployments without a known price come last.
 */
import { expectedCostUsd } from '../cost'
import { nearBest, pickByWeight, type Strategy, type StrategyDefinition } from './strategy'

const pick: Strategy = (candidates, { req, rng }) => {
  const costOf = new Map(candidates.map((c) => [c, expectedCostUsd(c.deployment, req)]))
  const cheapestOnes = nearBest(candidates, (c) => costOf.get(c)!, true, 1e-12)
  const roomiest = nearBest(cheapestOnes, (c) => c.headroom, false, 0.02)
  const candidate = pickByWeight(roomiest, rng)
  const usd = costOf.get(candidate)!
  return { candidate, reason: Number.isFinite(usd) ? `cheapest (~$${usd.toPrecision(3)})` : 'cheapest (no known price)' }
}

export const cheapest: StrategyDefinition = {
  summary: 'the cheapest usable deployment with headroom (configured prices, else Bedrock list prices)',
  usesWindows: true,
  canQueue: false,
  pick,
}
