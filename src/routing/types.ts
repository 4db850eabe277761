/**
 * Types of the pure routing core. Nothing here does I/O: the state is plain JSON-serialisable data
 * that a StateStore (memory, Durable Object, Deno KV) keeps and hands to `decide` / `record`.
 */
import type { AffinityChange, AffinityEntry, AffinityHint } from './affinity'
import type { SpendState } from './budget'
import type { StrategyName } from './strategies'

/** What the router knows about a request before sending it. */
export interface RequestEstimate {
  /** Estimated input tokens (see estimate.ts). */
  inputTokens: number
  /** `inferenceConfig.maxTokens`, when the request sets it. */
  maxTokens?: number
  stream: boolean
  /** The request is in one model family's native format (InvokeModel): only that family's deployments can serve it. */
  family?: string
  /** The most the request may cost, USD, when the caller knows it better than the deployment's price (budgets.ts). */
  costUsd?: number
  /** A routing rule restricts the request to these deployments (src/policy/rules.ts): the others are hard-blocked. */
  only?: readonly string[]
  /** The strategy that decides, when not the pool's own (a rule's override, an experiment's arm). */
  strategy?: StrategyName
  /** A custom strategy's order of preference (deployment ids), for the `custom` strategy to follow. */
  ranking?: readonly string[]
  /** Prompt-cache affinity keys (cache-keys.ts): the deployment that took them is preferred while it can serve. */
  affinity?: AffinityHint
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
  /** USD held against the deployment's budgets (budget.ts). */
  usd?: number
}

export type Decision =
  /**
   * Send the attempt to `deploymentId`. With `notBefore` the reservation was made for a future moment and the caller
   * waits until then before sending: `wait: 'queue'` (rate-limit-aware with `maxQueueMs`: the configured window has
   * room then; reservations made later sit after it, so queued requests are served first come, first served) or
   * `wait: 'pace'` (every healthy deployment is being paced after throttles: a brief wait for a send token, which the
   * caller may skip — send at once — when it has no time for it; pacing never refuses).
   */
  | {
      kind: 'dispatch'
      deploymentId: string
      reservation: Reservation
      reason: string
      notBefore?: number
      wait?: 'queue' | 'pace'
      /** With affinity keys: `hit` (the deployment holding them), `new` (none held), `spill: <why not the holder>`. */
      affinity?: string
    }
  /**
   * Nothing may be sent, for a hard reason only: every remaining deployment's configured rpm/tpm window is full (429),
   * or every remaining deployment is misconfigured or already tried by this request (503, NO_MODELS_AVAILABLE).
   * `reason` says which deployment is out and why.
   */
  | {
      kind: 'reject'
      status: 429 | 503
      errorType: 'ThrottlingException' | 'ServiceUnavailableException'
      retryAfterMs: number
      reason: string
    }

/**
 * Classes of upstream outcome (docs/bedrock-wire.md §3):
 * - success
 * - throttled: 429 ThrottlingException (a capacity signal, not a breaker failure)
 * - unavailable: ModelNotReady, 5xx, ServiceUnavailable, InternalServer, in-stream 5xx-class exceptions
 * - timeout: no first byte / no answer within the attempt's time
 * - network: connection refused/reset, malformed or truncated upstream stream
 * - misconfigured: what Bedrock says is the deployment's setup: AccessDenied, ResourceNotFound, bad signature or
 *   credentials (fail over; out until a probe succeeds)
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
  /** What the request cost, USD, when the caller priced it (a client's budget: at the deployment that served). */
  costUsd?: number
  /** When it was sent, for an outcome reported without its reservation (a lease's attempt, routing/lease.ts). */
  sentAt?: number
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
  /** Health failures in a row (reset by a success). */
  consecutive: number
  /** Ejection multiplier: the cooldown of the current or last ejection is cooldownMs × this. */
  ejections: number
  /** When it last closed (the multiplier resets after a long healthy stretch). */
  closedAt: number
}

/** Adaptive send rate after throttles (pacing.ts). */
export interface PacingState {
  /** Fill rate of the send-token bucket, requests/s; null: unpaced (no recent throttle). */
  rate: number | null
  /** CUBIC's W_max: the rate in force when it was last cut, and when. */
  maxRate: number
  cutAt: number
  /** Tokens in the bucket at `filledAt`. */
  tokens: number
  filledAt: number
  /** Measured send rate (requests/s, decaying), as of `measuredAt`. */
  sent: number
  measuredAt: number
}

/**
 * Bedrock said the deployment itself is wrong (AccessDenied, unknown model, bad credentials). It is out, except for one
 * probe at a time from `probeAt` on (the interval doubling with each failed probe); the first success ends it.
 */
export interface MisconfiguredState {
  since: number
  /** Bedrock's error name, for the trace and /health. */
  errorType: string
  /** When the next probe may go out. */
  probeAt: number
  /** Start (reservation time) of the probe in flight, null if none. */
  probing: number | null
  /** Failed probes so far. */
  strikes: number
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
  pacing: PacingState
  misconfigured: MisconfiguredState | null
  /** Upstream asked (Retry-After) not to be called before this: a soft preference, not a block. 0 = no such ask. */
  avoidUntil: number
  /** Last throttle or health failure: failover prefers deployments that failed least recently. */
  lastFailureAt: number
  /** Converse: total time; stream: time to first byte. */
  latency: { converse: LatencyStat; stream: LatencyStat }
  /** Spend against budgets (budget.ts); only for deployments with a budget. */
  spend?: SpendState
  /** Tokens used and held today against `tokensPerDay` (day-tokens.ts: the budget ledger, in tokens). */
  dayTokens?: SpendState
}

export interface PoolState {
  version: 1
  deployments: Record<string, DeploymentState>
  /** Prompt-cache affinity: key → the deployment that last took it, and until when (affinity.ts). Bounded. */
  affinity?: Record<string, AffinityEntry>
  /**
   * A pool with leases, the object's state: the map's recent changes for the isolates' next renewals, numbered
   * (affinity.ts; bounded: `lost` is the last position its bound cut off).
   */
  affinityLog?: { seq: number; changes: AffinityChange[]; lost?: number }
  /** The isolate's own copy of a leased pool's state (state/leases.ts): it keeps no log (the object's is the one). */
  replica?: true
  /** The shared window of each quota group (deployments that draw on one Bedrock quota), in place of their own. */
  quotaGroups?: Record<string, UsageBucket[]>
  /** Each quota group's day ledger (members with `tokensPerDay`: the group's one daily quota), in place of their own. */
  quotaGroupDays?: Record<string, SpendState>
}

// ---------------------------------------------------------------------------------------------------------------------
// Snapshot for /health and stats.
// ---------------------------------------------------------------------------------------------------------------------

/** Why a deployment cannot be sent a request now (hard reasons: routing never sends there). */
export type UnusableReason = 'misconfigured' | 'window-full' | 'budget-spent' | 'other-family' | 'not-allowed'

/** Why a deployment is used only when better ones are not available (soft: it still serves if nothing else can). */
export type SoftReason = 'ejected' | 'half-open-probes-busy' | 'paced' | 'retry-after'

export interface DeploymentSnapshot {
  id: string
  modelId: string
  region: string
  fallback: boolean
  /** Whether a small request may be sent to it now (no hard block). */
  usable: boolean
  reason: UnusableReason | null
  /** Whether it is preferred now (usable and no soft penalty), and if not, why. */
  preferred: boolean
  softReasons: SoftReason[]
  breaker: BreakerPhase
  breakerOpenUntil: number | null
  probesInFlight: number
  consecutiveFailures: number
  ejections: number
  /** Breaker window: successes and counted failures. */
  recentSuccesses: number
  recentFailures: number
  /** Usage in the sliding 60 s window now, and reservations for queued requests (after now). */
  window: { requests: number; tokens: number; queuedRequests: number; queuedTokens: number }
  /** A grouped deployment: its group and the group's window, which its limits apply to (`window` is its own share). */
  quotaGroup?: { name: string; window: { requests: number; tokens: number; queuedRequests: number; queuedTokens: number } }
  limits: { configuredRpm: number | null; configuredTpm: number | null }
  /** Budgets and spend of the current UTC day and month (deployments with a budget only). */
  budget?: { usdPerDay: number | null; usdPerMonth: number | null; spentToday: number; spentThisMonth: number; heldUsd: number }
  /** Tokens per day (deployments with `tokensPerDay` only): the quota, used today, held by requests in flight — a quota group's member shows the group's day. */
  tokensToday?: { perDay: number; used: number; held: number }
  /** Adaptive send rate after throttles (requests/s); null rate: unpaced. */
  pacing: { rateRps: number | null; sentRps: number; nextTokenAt: number | null }
  misconfigured: { errorType: string; since: number; nextProbeAt: number; strikes: number } | null
  avoidUntil: number | null
  latencyMs: { converse: number | null; stream: number | null }
}
