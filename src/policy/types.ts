/**
 * Orchestration policies, as configured and compiled: routing rules (first match wins, before the pool's strategy),
 * experiments (A/B arms of strategies or pools), custom strategies (your own ranking). Plain data except the compiled
 * predicates; src/config/policy-schema.ts validates the JSON and names the rule or pool in every problem.
 */
import type { FrontDoor } from '../config/types'
import type { StrategyName } from '../routing/strategies'

/** A string to compare with: exact, a regular expression, or one of a list. */
export type Match = string | { matches: string; flags?: string } | { in: string[] }

export interface Range {
  gt?: number
  gte?: number
  lt?: number
  lte?: number
}

/** Conditions on the request's features; several keys in one object must all hold. */
export interface FeatureCondition {
  pool?: Match
  model?: Match
  frontDoor?: FrontDoor | FrontDoor[]
  hasTools?: boolean
  hasImages?: boolean
  hasDocuments?: boolean
  inputTokens?: Range
  maxTokens?: Range
  /** Accounting tags (requestMetadata, x-router-tags, OpenAI metadata): each named tag must match. */
  tag?: Record<string, Match>
  /** Request headers (lower-case names): each must match. */
  header?: Record<string, Match>
  /** Key name or token subject, its team, and what kind of credential it came with. */
  client?: Match
  team?: Match
  credential?: 'key' | 'token' | 'shared-key' | 'demo'
  systemPrompt?: Match
  lastUserMessage?: Match
}

export type Condition = { all: Condition[] } | { any: Condition[] } | { not: Condition } | FeatureCondition

export interface RuleAction {
  /** Send to this pool instead. */
  pool?: string
  /** Only these deployments of the (resulting) pool may serve. */
  deployments?: string[]
  /** Decide with this strategy instead of the pool's. */
  strategy?: StrategyName
  /** Refuse, with this status and message (in the front door's error shape). */
  reject?: { status: 400 | 403 | 429 | 503; message: string }
}

export interface RuleConfig {
  name: string
  when: Condition
  then: RuleAction
}

/** A rule ready to evaluate. */
export interface CompiledRule extends RuleConfig {
  test(features: RequestFeatures): boolean
}

export interface ExperimentArm {
  name: string
  weight: number
  strategy?: StrategyName
  /** Route this arm to another pool (an A/B test of pools). */
  pool?: string
}

export interface ExperimentConfig {
  name: string
  arms: ExperimentArm[]
  /** What keeps a caller in one arm: its identity, a header's value, or a tag's (requestMetadata, x-router-tags). Unset or missing: each request drawn anew. */
  sticky?: 'client' | `header:${string}` | `tag:${string}`
}

export interface CustomStrategyConfig {
  /** A webhook: POSTed the request's features and the candidates' live state. */
  url?: string
  /** On Workers, a service binding to another Worker that answers the same protocol. */
  binding?: string
  /** In process (createRouter), the name of a function given in the router's options. */
  function?: string
  /** Headers for the webhook (its auth). */
  headers?: Record<string, string>
  /** How long to wait for an answer, ms (default 50). */
  timeoutMs: number
  /** The strategy used when it is late, fails or answers something unusable. */
  fallback: StrategyName
}

/** What rules and custom strategies see of a request (never credentials). */
export interface RequestFeatures {
  pool: string
  model: string
  frontDoor?: FrontDoor
  hasTools: boolean
  hasImages: boolean
  hasDocuments: boolean
  inputTokens: number
  maxTokens?: number
  tags: Record<string, string>
  client?: string
  team?: string
  credential?: string
  systemPrompt: string
  lastUserMessage: string
  /** A header's value (lower-case name); undefined when absent. */
  header(name: string): string | undefined
}
