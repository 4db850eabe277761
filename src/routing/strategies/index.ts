/**
 * The strategy registry: the one place that lists strategies by name. The config schema, the candidates' assessment
 * and the engine all ask it, so a new strategy is its file plus one line here.
 */
import { cheapest } from './cost'
import { custom } from './custom'
import { fastest } from './latency'
import { promptRouter } from './prompt-router'
import { rateLimitAware } from './rate-limit-aware'
import type { StrategyDefinition } from './strategy'
import { weighted } from './weighted'

export const STRATEGY_REGISTRY = {
  weighted,
  'rate-limit-aware': rateLimitAware,
  cost: cheapest,
  latency: fastest,
  'bedrock-ipr': promptRouter,
  custom,
} satisfies Record<string, StrategyDefinition>

export type StrategyName = keyof typeof STRATEGY_REGISTRY

export const STRATEGIES = Object.keys(STRATEGY_REGISTRY) as StrategyName[]

export function strategyOf(name: StrategyName): StrategyDefinition {
  return STRATEGY_REGISTRY[name]
}

/** The strategy deciding this request: the pool's, unless a rule, an experiment arm or a custom strategy's fallback overrode it. */
export function strategyFor(pool: { strategy: StrategyName }, req: { strategy?: StrategyName }): StrategyDefinition {
  return STRATEGY_REGISTRY[req.strategy ?? pool.strategy]
}

export type { Pick, Strategy, StrategyContext, StrategyDefinition } from './strategy'
