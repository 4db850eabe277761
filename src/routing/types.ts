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
  /** Epoch ms when reserved; names the window slot the tokens were counted in. */
  at: number
  /** Tokens reserved (input estimate + output cap). */
  tokens: number
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
