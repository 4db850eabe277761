/**
 * Amazon Bedrock simulator: a Web-standard `Request → Response` handler (no Node built-ins; runs in Node,
 * workerd or under `Deno.serve`). One simulator serves every region; the caller says which region a request
 * arrived at (`fetch(req, region)`), as one listener per region does in ./node-server.ts.
 *
 * Bedrock surface
 *   POST /model/{modelId}/converse          ConverseResponse JSON
 *   POST /model/{modelId}/converse-stream   application/vnd.amazon.eventstream
 *   {modelId} is percent-encoded (%3A, %2F). Auth: SigV4 (service `bedrock`, the listener's region) or
 *   `Authorization: Bearer <API key>`; none → 403 MissingAuthenticationTokenException; SigV4 failures → 403
 *   InvalidSignatureException / UnrecognizedClientException / IncompleteSignatureException. A `/model/...` path
 *   that does not parse (e.g. an ARN with a raw `/`) gets HTTP 200 `{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}`,
 *   as real Bedrock does. Order of checks: auth → route → unknown model (404) → body (400) → fault rule → quota.
 *
 * Control API (same listener, no auth, JSON in and out; errors are 400 `{"error": "..."}`)
 *   GET    /__sim/health                 {ok, region, now}
 *   POST   /__sim/rules                  FaultRule or FaultRule[]            → {id} | {ids}
 *   GET    /__sim/rules                  {rules: [{...rule, id, remaining, hits}]}
 *   DELETE /__sim/rules/{id}             {removed}
 *   DELETE /__sim/rules  (= POST /__sim/reset)   clear rules, quotas, stats, records, clock offset;
 *                                        restore the config/rules/quotas given at construction and restart
 *                                        the random faults from the construction seed
 *   POST   /__sim/reset  {seed?}         the same; with `seed`, restart from that seed  → {ok, seed}
 *   POST   /__sim/quota                  QuotaRule → {id}   (same region+modelId replaces)   GET → {quotas}
 *   POST   /__sim/config                 partial {responseChars, frameDelayMs, chunkSizes, unknownModels,
 *                                        defaultMaxTokens, seed} (null resets a field; setting `seed` restarts
 *                                        the random sequence) → config    GET → config
 *   GET    /__sim/stats                  {region: {modelId: {accepted, rejected, errors{type:n}, streamsCut,
 *                                        streamExceptions, inputTokens, outputTokens, windowRequests, windowTokens}}}
 *   GET    /__sim/requests?region=&modelId=&limit=   {requests: [{time, requestId, region, method, path, modelId,
 *                                        operation, headers (no authorization), body, auth, status, errorType}]}
 *   POST   /__sim/clock                  {advanceMs} → {now}   (moves quota windows forward)
 *
 * FaultRule JSON: common {id?, region?, modelId? (exact, or prefix ending in *), operation? ("converse" |
 * "converse-stream"), times? (next N struck requests; unset = always), probability? (0 < p <= 1, default 1:
 * strike each matching request with this probability, drawn from the seeded RNG; one not struck goes on to
 * later rules and normal handling)} plus one of
 *   {fault:"throttle", message?, retryAfterSeconds?}                 429 ThrottlingException
 *   {fault:"error", status, errorType, message?, retryAfterSeconds?} e.g. 503 ServiceUnavailableException
 *   {fault:"stall", ms?}              hold before the headers, then answer; no ms = until the client aborts
 *                                     or close() (recorded as status 499 RequestAborted); no timer outlives it
 *   {fault:"cut", afterFrames, partialBytes?}                       stream only: break the connection
 *   {fault:"exception", afterFrames, exceptionType?, message?}      stream only: exception frame, then end
 *   {fault:"delay", firstFrameMs?, frameDelayMs?}                   stream only
 * The first matching rule (in insertion order) that strikes applies; stream-only rules never match Converse.
 * A slow but successful region: {fault:"stall", ms} (Converse and streams) or {fault:"delay", firstFrameMs}.
 * QuotaRule JSON: {id?, region?, modelId?, rpm?, tpm?, burndown? (default 1), defaultMaxTokens?}; a sliding 60 s
 * window per region+model; reserve input + maxTokens (or defaultMaxTokens, default 4096) at the start, settle to
 * input + output × burndown at the end; over the limit → 429 ThrottlingException.
 */
import { answerRequest } from './pipeline'
import { handleControl } from './control'
import { SimState } from './state'
import type { RequestFilter } from './recorder'
import type { FaultRule, QuotaRule, RecordedRequest, SimConfig, SimStats, SimulatorOptions, StoredRule } from './types'

export type * from './types'

export interface Simulator {
  /** Answers one request that arrived at `region`'s endpoint (Bedrock routes and `/__sim/` control routes). */
  fetch(req: Request, region: string): Promise<Response>
  addRule(rule: FaultRule): string
  removeRule(id: string): boolean
  rules(): StoredRule[]
  setQuota(quota: QuotaRule): string
  configure(patch: SimConfig): SimConfig
  /** Same as `DELETE /__sim/rules`; with `seed`, the random faults restart from it (as `POST /__sim/reset {seed}`). */
  reset(seed?: number): void
  stats(): SimStats
  /** Recent requests, oldest first. `record.authorization` holds the raw header (non-enumerable). */
  requests(filter?: RequestFilter): RecordedRequest[]
  /** Moves the quota clock forward by `ms` (on top of the injected `now()`). */
  advanceClock(ms: number): void
  now(): number
  /** Ends stalled requests and open streams. */
  close(): void
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  const state = new SimState(options)
  return {
    async fetch(req, region) {
      const url = new URL(req.url)
      if (url.pathname === '/__sim' || url.pathname.startsWith('/__sim/')) return handleControl(state, req, url, region)
      return answerRequest(state, req, url, region)
    },
    addRule: (rule) => state.addRule(rule),
    removeRule: (id) => state.removeRule(id),
    rules: () => state.rules(),
    setQuota: (q) => state.setQuota(q),
    configure: (patch) => state.configure(patch),
    reset: (seed) => state.reset(seed),
    stats: () => state.stats(),
    requests: (filter) => state.requests(filter),
    advanceClock: (ms) => state.advanceClock(ms),
    now: () => state.now(),
    close: () => state.close(),
  }
}
