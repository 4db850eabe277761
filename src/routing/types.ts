/**
 * Types of the pure routing core. Nothing here does I/O: the state is plain JSON-serialisable data
 * that a StateStore (memory, Durable Object, Deno KV) keeps and hands to `decide` / `record`.
 */

/** What the router knows about a request before sending it. */
export interface RequestEstimate {
  /** Estimated input tokens (see estimate.ts). */
  inputTokens: number
  /** `inferenceConfig.maxTokens`, when the request sets it. */
  maxTokens?: number
  stream: boolean
}

/** Quota held for one in-flight attempt, reconciled with real usage afterwards. */
export interface Reservation {
  deploymentId: string
  /** Epoch ms the attempt is counted as arriving at (now, or `notBefore` when queued); names its window bucket. */
  at: number
  /** Tokens reserved (input estimate + output cap). */
  tokens: number
  /** The attempt holds a half-open probe slot of the deployment's breaker (released by `record`). */
  probe?: boolean
}

export type Decision =
  /**
   * Send the attempt to `deploymentId`. With `notBefore` (rate-limit-aware with `maxQueueMs`), the reservation was
   * made for a future moment when the window has room, and the caller waits until then before sending: reservations
   * made later sit after it, so queued requests are served first come, first served.
   */
  | { kind: 'dispatch'; deploymentId: string; reservation: Reservation; reason: string; notBefore?: number }
  /** Nothing can serve. 429 when every deployment is full, 503 (NO_MODELS_AVAILABLE) otherwise. */
  | {
      kind: 'reject'
      status: 429 | 503
      errorType: 'ThrottlingException' | 'ServiceUnavailableException'
      retryAfterMs: number
      reason: string
    }

/**
 * Classes of upstream outcome (bedrock-wire.md §3):
 * - success
 * - throttled: 429 ThrottlingException (a capacity signal, not a breaker failure)
 * - unavailable: ModelNotReady, 5xx, ServiceUnavailable, InternalServer, in-stream 5xx-class exceptions
 * - timeout: no first byte / no answer within the attempt's time
 * - network: connection refused/reset, malformed or truncated upstream stream
 * - misconfigured: AccessDenied, ResourceNotFound, bad signature/credentials (fail over, long cooldown)
 * - client: ValidationException and other 4xx caused by the request itself (fail fast, never counted)
 */
export type OutcomeClass =
  | 'success'
  | 'throttled'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'misconfigured'
  | 'client'

export interface UpstreamResult {
  class: OutcomeClass
  /** HTTP status (from upstream, or the one the router will answer with). */
  status: number
  /** Bedrock error name, e.g. `ThrottlingException`. */
  errorType?: string
  message?: string
  /** Upstream `Retry-After`, in ms. */
  retryAfterMs?: number
}

export interface TokenUsage {
  inputTokens: number
  outputTokens: number
  cacheReadInputTokens?: number
  cacheWriteInputTokens?: number
}

/** Reported after each attempt so the state learns: windows, breaker, latency. */
export interface AttemptOutcome {
  deploymentId: string
  reservation?: Reservation
  result: UpstreamResult
  usage?: TokenUsage
  /** Converse: total time; streams: time to first byte. */
  latencyMs?: number
  stream?: boolean
  /** Bedrock Prompt Router: the model that really served. */
  invokedModelId?: string
}

// ---------------------------------------------------------------------------------------------------------------------
// Pool state: plain JSON data, bounded in size, persisted between requests (Durable Object, Deno KV or memory).
// ---------------------------------------------------------------------------------------------------------------------

/**
 * Usage of the requests that arrived (or are reserved to arrive) in one 500 ms slot of a deployment's sliding window,
 * with the exact times of the first and last of them: it counts toward the window from `first` until `last` + 60 s
 * (see window.ts). Buckets after "now" hold reservations of queued requests.
 */
export interface UsageBucket {
  /** Epoch ms of its first and last arrival. */
  first: number
  last: number
  requests: number
  tokens: number
}

/** Successes and breaker-counted failures in one slot of the breaker's window. */
export interface OutcomeBucket {
  /** Slot start, epoch ms. */
  start: number
  successes: number
  failures: number
}

export type BreakerPhase = 'closed' | 'open' | 'half-open'

export interface BreakerState {
  phase: BreakerPhase
  /** While open: when it may start admitting half-open probes. */
  openUntil: number
  /** Start times (= reservation.at) of half-open probes in flight; stale ones expire (see breaker.ts). */
  probes: number[]
  /** Probe successes since it went half-open. */
  halfOpenSuccesses: number
  /** Outcomes within `breaker.windowMs` while closed. */
  outcomes: OutcomeBucket[]
  /** How many times it has opened (stats). */
  opened: number
}

/** Limits learned from upstream 429s (the account quota is shared with other traffic). */
export interface LearnedLimits {
  /** Effective requests per minute, null when only the configured limit applies. */
  rpm: number | null
  /** Effective tokens per minute, null when only the configured limit applies. */
  tpm: number | null
  /** Additive increase per minute of serving without throttles. */
  rpmStep: number
  tpmStep: number
  /** Last upstream 429. */
  throttledAt: number
  /** Last time the limits were raised (additive increase is paced on it). */
  raisedAt: number
}

export type CooldownReason = 'throttled' | 'misconfigured'

export interface Cooldown {
  until: number
  reason: CooldownReason
}

/** Exponentially weighted moving average of one latency kind, and the measurement in flight. */
export interface LatencyStat {
  /** null: no sample yet. */
  ewmaMs: number | null
  /** Time of the last sample. */
  at: number
  samples: number
  /** A request was sent to measure an unmeasured/stale deployment and has not reported yet. */
  pendingSince: number | null
}

export interface DeploymentState {
  /** Disjoint buckets, ascending: at most 121 in the window (one per 500 ms slot) plus future (queued) ones. */
  usage: UsageBucket[]
  breaker: BreakerState
  cooldown: Cooldown | null
  /** Upstream 429s in a row (cooldown length for strategies without windows). */
  consecutiveThrottles: number
  learned: LearnedLimits | null
  /** Converse: total time; stream: time to first byte. */
  latency: { converse: LatencyStat; stream: LatencyStat }
}

export interface PoolState {
  version: 1
  deployments: Record<string, DeploymentState>
}

// ---------------------------------------------------------------------------------------------------------------------
// Snapshot for /health and stats.
// ---------------------------------------------------------------------------------------------------------------------

/** Why a deployment cannot take a request now: health (breaker, misconfigured) or capacity (throttled, window full). */
export type UnusableReason =
  | 'breaker-open'
  | 'half-open-probes-busy'
  | 'misconfigured'
  | 'throttled'
  | 'window-full'

export interface DeploymentSnapshot {
  id: string
  modelId: string
  region: string
  fallback: boolean
  /** Whether a small request could be sent to it now. */
  usable: boolean
  reason: UnusableReason | null
  breaker: BreakerPhase
  breakerOpenUntil: number | null
  probesInFlight: number
  /** Breaker window: successes and counted failures. */
  recentSuccesses: number
  recentFailures: number
  /** Usage in the sliding 60 s window now, and reservations for queued requests (after now). */
  window: { requests: number; tokens: number; queuedRequests: number; queuedTokens: number }
  limits: {
    configuredRpm: number | null
    configuredTpm: number | null
    /** What the router enforces now (configured, lowered by learned limits); null = unlimited. */
    effectiveRpm: number | null
    effectiveTpm: number | null
    learned: boolean
  }
  latencyMs: { converse: number | null; stream: number | null }
  cooldownUntil: number | null
  cooldownReason: CooldownReason | null
}
