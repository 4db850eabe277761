/** Shared types of the Bedrock simulator (options, fault rules, quotas, records). */

/** The Bedrock Runtime operations the simulator serves (rule selectors and records use these names). */
export type Operation = 'converse' | 'converse-stream' | 'invoke' | 'invoke-stream' | 'count-tokens' | 'apply-guardrail'

/** Selects requests by listener region and decoded model ID; an unset field matches anything. */
export interface Selector {
  region?: string
  /**
   * Exact model ID, or a prefix ending in `*` (e.g. `anthropic.*`). ApplyGuardrail requests are matched as
   * `guardrail/{guardrailIdentifier}` (e.g. `guardrail/*`).
   */
  modelId?: string
  operation?: Operation
}

interface RuleBase extends Selector {
  /** Assigned by the simulator when absent. */
  id?: string
  /** Apply to the next N matching requests only; unset = every matching request. Only strikes use these up. */
  times?: number
  /**
   * 0 < p ≤ 1, default 1: the rule strikes each matching request with this probability (seeded RNG, see
   * `SimConfig.seed`). A request it does not strike goes on to later rules and normal handling.
   */
  probability?: number
}

/** 429 ThrottlingException before any response byte. */
export interface ThrottleRule extends RuleBase {
  fault: 'throttle'
  message?: string
  /** Adds a `Retry-After: <seconds>` header. */
  retryAfterSeconds?: number
}

/** Any error status + AWS error type before any response byte, e.g. 503 ServiceUnavailableException. */
export interface ErrorRule extends RuleBase {
  fault: 'error'
  status: number
  errorType: string
  message?: string
  retryAfterSeconds?: number
}

/** Hold the request before the response headers: `ms` then answer normally; no `ms` = until the client aborts. */
export interface StallRule extends RuleBase {
  fault: 'stall'
  ms?: number
}

/**
 * Streams only (ConverseStream, InvokeModelWithResponseStream): send `afterFrames` whole frames (+ `partialBytes`
 * of the next), then break the connection.
 */
export interface CutRule extends RuleBase {
  fault: 'cut'
  afterFrames: number
  partialBytes?: number
}

/** Streams only: send `afterFrames` frames, then an exception frame, then end the stream. */
export interface ExceptionRule extends RuleBase {
  fault: 'exception'
  afterFrames: number
  /** lowerCamel member name, default `throttlingException`. */
  exceptionType?: string
  message?: string
}

/** Streams only: wait `firstFrameMs` before the first frame and/or `frameDelayMs` between frames. */
export interface DelayRule extends RuleBase {
  fault: 'delay'
  firstFrameMs?: number
  frameDelayMs?: number
}

/** The connection is dropped before any response byte (a reset): the caller's fetch fails with a network error. */
export interface ResetRule extends RuleBase {
  fault: 'reset'
}

/** HTTP 200 with a body that is not what the operation returns: a proxy's HTML page (`body`, default one such). */
export interface GarbageRule extends RuleBase {
  fault: 'garbage'
  body?: string
}

/** Streams only: frame `afterFrames` is sent with one payload byte flipped, so its message CRC is wrong. */
export interface CorruptRule extends RuleBase {
  fault: 'corrupt'
  afterFrames: number
}

export type FaultRule = ThrottleRule | ErrorRule | StallRule | CutRule | ExceptionRule | DelayRule | ResetRule | GarbageRule | CorruptRule
export type FaultKind = FaultRule['fault']

/** A stored rule, with how many uses are left (`null` = unlimited). */
export type StoredRule = FaultRule & { id: string; remaining: number | null; hits: number }

/** Per region+model quota, counted in a sliding 60 s window like Bedrock. */
export interface QuotaRule {
  id?: string
  region?: string
  modelId?: string
  /** Requests per minute. */
  rpm?: number
  /** Tokens per minute: reserve input + maxTokens at start, settle to input + output × burndown. */
  tpm?: number
  /** Output-token burndown rate (5 for recent Claude models). Default 1. */
  burndown?: number
  /** Output cap reserved when a request sets no `inferenceConfig.maxTokens`. Default: simulator `defaultMaxTokens`. */
  defaultMaxTokens?: number
}

export interface Credential {
  secretAccessKey: string
  sessionToken?: string
}

/** Settings that can be changed at run time (`POST /__sim/config`). */
export interface SimConfig {
  /** Pad the answer text to this many characters (long streams). Default: the short greeting only. */
  responseChars?: number
  /** Delay between stream frames, ms. Default 0. */
  frameDelayMs?: number
  /** Re-split the stream bytes into chunks of these sizes (cycled), straddling frame boundaries. */
  chunkSizes?: number[]
  /** Model IDs answered with 404 ResourceNotFoundException (string = every region). */
  unknownModels?: Array<string | { region?: string; modelId: string }>
  /** Output cap reserved for quota when the request sets no maxTokens. Default 4096. */
  defaultMaxTokens?: number
  /**
   * Seed of the RNG behind rules with a `probability` (an unsigned 32-bit integer). Setting it restarts the
   * sequence; reset restores the constructor's seed (default 1) and restarts it too.
   */
  seed?: number
  /**
   * The guardrails ApplyGuardrail knows. Unset: every well-formed identifier and version is known and blocks the
   * word `BLOCKME`. Set: only these (others get 404 ResourceNotFoundException).
   */
  guardrails?: GuardrailConfig[]
}

/** A simulated guardrail: a word policy only. */
export interface GuardrailConfig {
  /** The guardrail ID (`[a-z0-9]+`); a guardrail ARN in the request matches on its trailing ID. */
  id: string
  /** Known versions (`DRAFT`, `1`, …). Default: every version. */
  versions?: string[]
  /** Custom words the word policy blocks (case-insensitive, whole words). Default `["BLOCKME"]`. */
  blockedWords?: string[]
  /** Default "Sorry, the model cannot answer this question." */
  blockedInputMessaging?: string
  /** Default "Sorry, the model cannot answer this question." */
  blockedOutputsMessaging?: string
}

export interface SimulatorOptions extends SimConfig {
  /** accessKeyId → secret (+ session token). Default: the demo credentials. */
  credentials?: Record<string, Credential>
  /** Accepted `Authorization: Bearer` keys. Default: the demo API key. */
  apiKeys?: string[]
  /** Default true. When false, requests without any Authorization header are accepted (bad ones still fail). */
  requireAuth?: boolean
  /** Clock for quotas, stats and records (ms). Default `Date.now`. */
  now?: () => number
  /** Clock used for the SigV4 X-Amz-Date skew check (15 min). Default `Date.now`. */
  signingClock?: () => number
  /** How many request records to keep. Default 100. */
  maxRecords?: number
  rules?: FaultRule[]
  quotas?: QuotaRule[]
}

/** What the authenticator found, safe to print. */
export type AuthSummary =
  | { scheme: 'sigv4'; accessKeyId: string; region: string; service: string; date: string }
  | { scheme: 'bearer'; keyHint: string }
  | { scheme: 'none' }

export interface RecordedRequest {
  time: number
  requestId: string
  region: string
  method: string
  path: string
  modelId?: string
  operation?: Operation
  /** ApplyGuardrail only (decoded path labels). */
  guardrailIdentifier?: string
  guardrailVersion?: string
  /** Received headers except `authorization` (kept, non-enumerable, in `authorization`). */
  headers: Record<string, string>
  /** Parsed JSON body, or the raw text when it is not JSON. */
  body: unknown
  auth: AuthSummary
  status: number
  errorType?: string
  /** The raw Authorization header. Non-enumerable: never serialised or printed by console.log. */
  readonly authorization?: string
}

export interface ModelStats {
  accepted: number
  rejected: number
  /** Rejections by AWS error type. */
  errors: Record<string, number>
  streamsCut: number
  streamExceptions: number
  /** Streams the caller went away from before their end (the request's signal aborted): a router must abort them. */
  streamsCancelled: number
  /** Input tokens processed (for InvokeModel with prompt caching: the uncached part, `input_tokens`). */
  inputTokens: number
  outputTokens: number
  /** Prompt-cache tokens of InvokeModel (Anthropic `cache_control`). */
  cacheReadInputTokens: number
  cacheWriteInputTokens: number
  /** Requests and quota tokens (reserved or settled) in the current 60 s window. */
  windowRequests: number
  windowTokens: number
}

/** region → modelId (or `guardrail/{identifier}`) → stats. */
export type SimStats = Record<string, Record<string, ModelStats>>
