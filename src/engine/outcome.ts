/**
 * What the engine takes and what it returns. A front door translates its protocol's request into a Converse
 * request (`EngineRequest`) and renders the typed `Outcome` back into its protocol; the engine itself knows no
 * HTTP response format.
 */
import type { ClientIdentity } from '../auth/identity'
import type { DeploymentConfig, PoolConfig } from '../config/types'
import type { RouterEnv } from '../env'
import type { RequestEstimate, TokenUsage, UpstreamResult } from '../routing/types'
import type { StateStore } from '../state/types'
import type { StatsRecorder } from '../stats/recorder'
import type { Operation } from '../upstream/bedrock'
import type { ConverseEventStream } from './converse-stream'
import type { RequestTrace } from './trace'

export interface EngineRequest {
  pool: PoolConfig
  operation: Operation
  /** The model ID (or pool name) the client addressed, decoded. */
  requestedModel: string
  /**
   * The request in Converse's shape (what Bedrock's Converse/ConverseStream accept, without `modelId`); for the
   * `invoke` operations the model's native body, which only deployments of the addressed model's family may serve.
   */
  body: Record<string, unknown>
  /**
   * The `invoke` operations: the model family the native body is written for, when the front door knows it better
   * than the addressed model does (a pool name addresses the pool's first primary, whatever its family).
   */
  nativeFamily?: string
  /** Client headers to pass upstream (InvokeModel's `x-amzn-bedrock-*`, content type, accept), lower-case names. */
  upstreamHeaders?: Record<string, string>
  /** `body` as the client sent it, forwarded verbatim where nothing must change; omitted, `body` is serialised. */
  bodyText?: string
  /** Who called (for logs and stats), never a secret. */
  client?: string
  /** The caller's identity: its rpm/tpm (if any) are held in a window of its own. */
  identity?: ClientIdentity
  /** The front door it came through (`bedrock`, `openai`, …), for logs and stats. */
  frontDoor?: string
  /** The end user the client named, for logs and stats. */
  endUser?: string
  /** Accounting tags (Bedrock `requestMetadata`, OpenAI `metadata`). */
  tags?: Record<string, string>
  /**
   * A conversation the client names (`x-router-session`, OpenAI `prompt_cache_key`): its requests go to one
   * deployment while it can take them (prompt-cache affinity); else the pool's requestMetadata key, else breakpoints.
   */
  session?: string
  /** Aborts when the client goes away: reservations are released and nothing more is tried. */
  signal?: AbortSignal
  /**
   * The deployment the body was written for, when not one of `pool`'s (a cascade sends a request written for its own
   * pool to a smaller tier's): the engine adapts the body from its family.
   */
  origin?: DeploymentConfig
  /** What the policies (src/policy/) decided before routing: hard restrictions and overrides for the routing core. */
  routing?: Pick<RequestEstimate, 'only' | 'strategy' | 'ranking'>
  /** Which policies applied, for the trace: the rule that matched, the experiment arm, the custom strategy's answer. */
  policy?: PolicyTrace
}

export interface PolicyTrace {
  rule?: string
  /** `<experiment>/<arm>`. */
  arm?: string
  custom?: string
  /** The response cache: `hit`, `miss` or `bypass` (the client said no-store). */
  cache?: 'hit' | 'miss' | 'bypass'
  /** The cascade: which tier answered, or why it escalated (`tier haiku passed`, `escalated: haiku=truncated`). */
  cascade?: string
  /** An escalated tier answer: the kind of failure (`truncated`, `judge`, `schema`, …), what /stats counts it by. */
  escalationReason?: string
  /** The answer a cascade returns: what its top tier would have cost for it (a smaller tier's answer only; USD). */
  cascadeTopTierUsd?: number
  /** The answer a cascade returns: what the cascade spent on the request before it (escalated tiers, judges; USD). */
  cascadeEarlierUsd?: number
}

/** What the engine needs from the runtime around one request. */
export interface EngineContext {
  env: RouterEnv
  store: StateStore
  /** Keeps bookkeeping that finishes after the response (reports) alive. */
  waitUntil: (promise: Promise<unknown>) => void
  /** The isolate's accounting: each request's event, sent in batches (stats/recorder.ts). */
  stats?: StatsRecorder
  /** The request's W3C `traceparent`, so its exported span joins the caller's trace. */
  traceparent?: string
}

export type Outcome = Served | Streaming | Rejected | Failed | Cancelled

/** A Converse answer, complete. */
export interface Served {
  kind: 'served'
  /** Bedrock's Converse response body (or InvokeModel's: the model's own), verbatim. */
  body: string
  /** InvokeModel: upstream's content type and `x-amzn-bedrock-*` headers (usage, latency), to relay. */
  contentType?: string
  bedrockHeaders?: Record<string, string>
  usage?: TokenUsage
  /** What it cost, USD (undefined: the price is unknown). */
  costUsd?: number
  /** For a prompt router: the model that answered. */
  invokedModelId?: string
  /** Upstream's request id. */
  requestId?: string
  trace: RequestTrace
}

/** A ConverseStream committed to the client: its first content has arrived; render its events. */
export interface Streaming {
  kind: 'streaming'
  /** Must be rendered exactly once: rendering is what reads upstream and settles the reservation at the end. */
  events: ConverseEventStream
  requestId?: string
  trace: RequestTrace
}

/**
 * The router answers itself: nothing upstream can or could serve this request now. `cause` says why:
 * `capacity`, configured limits are full (or the wait for them is longer than the deadline); `unavailable`,
 * no deployment may be tried (misconfigured, all tried); `exhausted`, every attempt failed upstream (or the
 * deadline left no time for one); `client-limit`, the caller's own rpm/tpm window is full; `rule`, a routing rule
 * refuses such requests.
 */
export interface Rejected {
  kind: 'rejected'
  cause: 'capacity' | 'unavailable' | 'exhausted' | 'client-limit' | 'rule'
  status: 400 | 403 | 429 | 503
  /** The Bedrock error name closest to the refusal (what the Bedrock front door sends). */
  errorType: 'ThrottlingException' | 'ServiceUnavailableException' | 'ValidationException' | 'AccessDeniedException'
  /** A sentence for the client: the hard reason, deployment by deployment, and what was tried. */
  message: string
  retryAfterMs: number
  trace: RequestTrace
}

/** Upstream refused the request itself (a client error): relayed, never failed over. */
export interface Failed {
  kind: 'failed'
  result: UpstreamResult
  /** Upstream's own answer, when there was one: status, Bedrock error name, body text, request id. */
  relay?: { status: number; errorType: string; body: string; requestId?: string }
  trace: RequestTrace
}

/** The client went away before an answer. */
export interface Cancelled {
  kind: 'cancelled'
  trace: RequestTrace
}

/**
 * A front door's rendering of an outcome, with the decision trace added (`x-router-*` headers) and logged —
 * at once, or for a stream when it ends.
 */
export function withTrace(outcome: Outcome, res: Response): Response {
  return outcome.trace.finish(res, { logNow: outcome.kind !== 'streaming', failFast: outcome.kind === 'failed' })
}

/** The `Retry-After` header of a router-made refusal: only when waiting can help (429, 503), not for a rule's 400/403. */
export function retryAfterOf(outcome: Rejected): Record<string, string> {
  return outcome.status === 429 || outcome.status === 503 ? { 'retry-after': retryAfterSeconds(outcome.retryAfterMs) } : {}
}

/** A `Retry-After` value: whole seconds, at least 1 (what SDKs and browsers read). */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)))
}
