/**
 * The router's configuration model, after validation and defaults (see ./schema.ts).
 * One JSON document (ROUTER_CONFIG) describes every pool and its deployments.
 */

import type { CompiledRule, CustomStrategyConfig, ExperimentConfig } from '../policy/types'
import type { AffinitySettings } from '../routing/affinity'
import type { StrategyName } from '../routing/strategies'

export type { StrategyName }

/** USD per million tokens. */
export interface Price {
  input: number
  output: number
  /** Service tier factors on the standard rate (routing/cost.ts has the defaults). */
  tiers?: { priority?: number; flex?: number; reserved?: number }
}

/** Fields of a request body a deployment cannot accept, dropped when a request fails over to it. */
export interface RequestOverride {
  /** Drop `additionalModelRequestFields` entirely (for example Anthropic-only `thinking` sent to Nova). */
  dropAdditionalModelRequestFields: boolean
  /** Drop `reasoningContent` blocks from earlier assistant turns (signed by another model family). */
  dropReasoningContent: boolean
  /** Drop `additionalModelResponseFieldPaths`. */
  dropAdditionalModelResponseFieldPaths: boolean
}

export interface DeploymentConfig {
  /** Unique across the whole config. */
  id: string
  /** Bedrock model ID, inference-profile ID or ARN (prompt router ARNs for `bedrock-ipr`). */
  modelId: string
  region: string
  /** Relative weight for the `weighted` strategy (and tie-breaks elsewhere). Default 1. */
  weight: number
  /** Serves only when no primary deployment is usable. Default false. */
  fallback: boolean
  /** Upstream base URL; default `https://bedrock-runtime.{region}.amazonaws.com`. */
  endpoint: string
  /** Name of a credential set: env `AWS_ACCESS_KEY_ID_<NAME>` etc. Unset: the default set. */
  credentials?: string
  /** Requests per minute this deployment may take (its Bedrock quota). */
  rpm?: number
  /** Tokens per minute (input + output × burndown), as Bedrock counts them. */
  tpm?: number
  /**
   * Deployments of a pool that draw on one Bedrock quota (the same account, region and model — two credential sets of
   * one account, a standard and a priority deployment — or one cross-region inference profile) name the same group:
   * they share one rpm/tpm window, so the router never sends the group more than its quota. Every member states the
   * group's rpm/tpm.
   */
  quotaGroup?: string
  /** Tokens per UTC day (Bedrock's daily token quota, counted as tpm is): routing/day-tokens.ts. */
  tokensPerDay?: number
  /** Price, USD per million tokens; default from the built-in table when the model is known. */
  price?: Price
  /** Output-token cap used to reserve quota when a request sets no maxTokens. */
  maxOutputTokens?: number
  /** Output-token burndown rate for quota accounting (5 for recent Claude models). */
  burndown?: number
  /** Model family ("anthropic", "amazon", "meta", ...); default derived from modelId. */
  family: string
  /** USD this deployment may spend per UTC day / calendar month (routing/budget.ts); a client's window carries its budget here. */
  budgetUsdPerDay?: number
  budgetUsdPerMonth?: number
  /** What to strip from a request that fails over to this deployment from another family. */
  override?: Partial<RequestOverride>
  /** System text for this deployment (wins over the pool's): src/policy/prompt.ts. */
  prompt?: PromptPolicy
  /** A guardrail for this deployment (wins over the pool's; guardrails are regional). */
  guardrail?: GuardrailPolicy
}

/** A named template, resolved at load: one text per model family, `default` for the others. */
export interface ResolvedTemplate {
  name: string
  texts: Record<string, string>
}

export interface PromptText {
  prepend?: string
  append?: string
  template?: ResolvedTemplate
}

/** System text added to requests (src/policy/prompt.ts), with a different text per model family where given. */
export interface PromptPolicy extends PromptText {
  byFamily?: Record<string, PromptText>
}

/** A guardrail attached to every request of a pool or deployment. */
export interface GuardrailPolicy {
  identifier: string
  version: string
  trace?: 'enabled' | 'disabled' | 'enabled_full'
  streamProcessingMode?: 'sync' | 'async'
  /** Replace the client's own guardrail instead of letting it win. */
  enforce?: boolean
}

/** Outlier ejection per deployment (routing/breaker.ts). Sporadic failures never eject: only failures in a row, or a
 * failure rate over a minimum volume. */
export interface BreakerConfig {
  /** Health failures in a row (5xx, timeouts, connection failures) that eject the deployment. */
  consecutiveFailures: number
  windowMs: number
  /** Failure rate (0..1) over `windowMs` that ejects it, judged only once `minRequests` outcomes were seen. */
  failureRate: number
  minRequests: number
  /** First ejection, ms (longer if upstream sent Retry-After); each repeated ejection adds as much again. */
  cooldownMs: number
  /** Longest ejection, ms; a deployment healthy this long starts again from `cooldownMs`. */
  maxCooldownMs: number
  /** Probe requests admitted at once while half-open. */
  halfOpenProbes: number
  /** Successes in half-open that close the breaker. */
  successesToClose: number
  /** At most this share (%) of the pool's deployments are ejected at once (never all: a one-deployment pool never is). */
  maxEjectionPercent: number
  /** When fewer than this share (0..1) of the pool's deployments are healthy, ejected ones are routed to like healthy ones. */
  panicThreshold: number
}

export interface LeaseSettings {
  /** How often an isolate renews its slices, ms. */
  renewMs: number
  /** A slice covers this many renewal periods of the isolate's recent sends to the deployment. */
  sliceFactor: number
  /**
   * `"auto"`: each isolate leases only while its own rate to the pool makes it worth it (state/leases.ts, AUTO_ON_PER_PERIOD
   * first attempts in a renewal period), and asks the object per request below that.
   */
  auto?: true
}

export interface PoolConfig {
  name: string
  strategy: StrategyName
  deployments: DeploymentConfig[]
  /** Upper bound on upstream attempts per request. Default: number of deployments (+1 with `serviceTier.onThrottle`), at most 5. */
  maxAttempts: number
  /** Per-request deadline across all attempts, ms. */
  timeoutMs: number
  /** Per-attempt timeout for Converse (the whole answer), ms. */
  attemptTimeoutMs: number
  /** Per-attempt time-to-first-byte timeout for ConverseStream (the first event frame), ms. */
  ttfbTimeoutMs: number
  /** After a stream has started: the longest silence between two upstream chunks before it is ended with an error, ms. */
  streamIdleTimeoutMs: number
  /** Rate-limit-aware: how long a request may wait for window capacity (0 = answer 429 at once). */
  maxQueueMs: number
  /**
   * How long a request's first attempt may wait for a send token when every healthy deployment is being paced after
   * upstream throttles (0: never wait, send to the best paced one at once). Pacing never refuses a request.
   */
  maxPacingMs: number
  breaker: BreakerConfig
  /** Latency strategy: how long a latency sample stays valid, ms. */
  latencyTtlMs: number
  /** Latency strategy: share of requests sent to a random deployment to re-measure it. */
  exploration: number
  /** An A/B test of strategies or pools on this pool's traffic (src/policy/experiments.ts). */
  experiment?: ExperimentConfig
  /** The `custom` strategy's logic: a webhook, a service binding or a function (src/policy/custom.ts). */
  custom?: CustomStrategyConfig
  prompt?: PromptPolicy
  guardrail?: GuardrailPolicy
  /**
   * Bedrock service tiers for this pool's requests that name none themselves: `default` the tier they are sent in
   * (`flex` for background traffic: cheaper, slower), `onThrottle: 'priority'` sends the next attempts after a
   * throttle in the Priority tier (its own capacity, at a higher price), the throttled deployment included.
   */
  serviceTier?: { default?: 'default' | 'flex' | 'priority'; onThrottle?: 'priority' }
  /**
   * Set when this pool shares a quota group with other pools: the name their state is kept under together (one
   * Durable Object, one Deno KV group key), so the group's window is one. Unset: the pool's own name.
   */
  stateKey?: string
  /** The response cache (src/policy/response-cache.ts): identical requests answered for `ttlSeconds`. */
  cache?: { ttlSeconds: number; shared: boolean }
  /** Cascade (src/policy/cascade.ts): smaller pools tried first, escalating when their answer fails the checks. */
  cascade?: CascadeConfig
  /**
   * Lease-based shared state (state/leases.ts): isolates (Workers) or instances (Deno) decide within slices of the
   * windows the pool's Durable Object or Deno KV grants them, so most requests make no round trip. The config's default is `auto`:
   * each isolate switches leasing on and off by its own rate to the pool. Unset here (`leases: false`): every request
   * asks the shared state.
   */
  leases?: LeaseSettings
  /** Prompt-cache affinity (src/routing/affinity.ts); config load always sets it (`enabled: false` when turned off). */
  affinity?: AffinitySettings
}

export type CascadeCheck = 'truncated' | 'empty' | 'refusal' | 'json' | 'unknown-tool' | 'schema'

export interface CascadeConfig {
  /** Pools tried before this one, smallest first; this pool's own deployments are the last tier. */
  tiers: string[]
  checks: CascadeCheck[]
  /** Streams: `hold` a tier's answer until it passes (the first byte waits for the whole tier answer), or `optimistic`: stream the first tier as it comes (no check). */
  stream: 'hold' | 'optimistic'
  /** Your own check after the structural ones: a webhook, a service binding or a function answering `{pass, reason?}`. */
  check?: { url?: string; binding?: string; function?: string; headers?: Record<string, string>; timeoutMs: number }
  /** A (small) model's pool asked to score a tier's answer 0–1 after the structural checks; below `threshold` escalates. */
  judge?: { pool: string; threshold: number; prompt?: string; maxTokens: number }
}

/** Where ApplyGuardrail for one guardrail is sent (guardrails live in one account and region). */
export interface GuardrailConfig {
  region: string
  /** Bedrock Runtime endpoint; default `https://bedrock-runtime.{region}.amazonaws.com`. */
  endpoint: string
  /** Names the credential set (as for deployments); default the unsuffixed AWS_* variables. */
  credentials?: string
}

/** The front doors a client may be allowed through. */
export type FrontDoor = 'bedrock' | 'openai' | 'anthropic'

/** What a client may do: every field unset = no restriction. Keys carry one; tokens carry one in their claims. */
export interface ClientScope {
  /** Pool names the client may call. */
  pools?: string[]
  frontDoors?: FrontDoor[]
  rpm?: number
  tpm?: number
  budgetUsdPerDay?: number
  budgetUsdPerMonth?: number
}

/** A client key, declared by the SHA-256 of the key (hex), never the key itself. */
export interface ClientKeyConfig extends ClientScope {
  name: string
  sha256: string
  /** Team, for limits and accounting shared by several keys. */
  team?: string
  /** May mint tokens (POST /v1/tokens), whose scope is at most this key's. */
  mint?: boolean
  /** May read the admin endpoints (/stats, /health/deployments, /metrics, /dashboard). */
  admin?: boolean
}

/** Tokens (JWTs) the router accepts: HS256 with ROUTER_JWT_SECRET, and/or ES256/RS256 from an identity provider. */
export interface TokenConfig {
  /** Accepted algorithms; HS256 needs ROUTER_JWT_SECRET, the asymmetric ones `jwksUrl` or `keys`. */
  algorithms: Array<'HS256' | 'ES256' | 'RS256'>
  jwksUrl?: string
  /** Inline public keys (JWK), each with a `kid`. */
  keys?: Array<Record<string, unknown>>
  issuer?: string
  audience?: string
  /** Accepted clock difference for exp / nbf / iat, seconds. */
  clockSkewSeconds: number
  /** Longest lifetime of a token this router mints, seconds. */
  maxTtlSeconds: number
}

/** Limits shared by every key and token of a team. */
export type TeamLimits = Pick<ClientScope, 'rpm' | 'tpm' | 'budgetUsdPerDay' | 'budgetUsdPerMonth'>

export interface ClientsConfig {
  keys: ClientKeyConfig[]
  /** Team name → the limits its members share. */
  teams: Record<string, TeamLimits>
  tokens: TokenConfig
}

export interface RouterConfig {
  pools: Record<string, PoolConfig>
  /** Routing rules, first match wins, compiled (src/policy/rules.ts). */
  rules: CompiledRule[]
  /** Scoped client keys and token settings. */
  clients: ClientsConfig
  /** Browser origins allowed by CORS (besides ROUTER_CORS_ORIGINS). */
  cors: { origins: string[] }
  /** Guardrail identifier (id or ARN, as clients send it) → where to apply it. */
  guardrails: Record<string, GuardrailConfig>
}
