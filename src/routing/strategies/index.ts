import type { StrategyName } from '../../config/types'
import { cheapest } from './cost'
import { fastest } from './latency'
import { promptRouter } from './prompt-router'
import { rateLimitAware } from './rate-limit-aware'
import type { Strategy } from './strategy'
import { weighted } from './weighted'

export const STRATEGY_IMPLEMENTATIONS: Record<StrategyName, Strategy> = {
  weighted,
  'rate-limit-aware': rateLimitAware,
  cost: cheapest,
  latency: fastest,
  'bedrock-ipr': promptRouter,
}

export type { Pick, Strategy, StrategyContext } from './strategy'
