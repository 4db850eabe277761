/**
 * Amazon Bedrock simulator: a Web-standard `Request → Response` handler (no Node built-ins; runs in Node,
 * workerd or under `Deno.serve`). One simulator serves every region; the caller says which region a request
 * arrived at (`fetch(req, region)`), as one listener per region does in ./node-server.ts.
 *
 * Bedrock surface (the same listener, auth, fault rules, records and stats for every operation)
 *   POST /model/{modelId}/converse                      converse         ConverseResponse JSON
 *   POST /model/{modelId}/converse-stream               converse-stream  application/vnd.amazon.eventstream
 *   POST /model/{modelId}/invoke                        invoke           the model's native JSON (below)
 *   POST /model/{modelId}/invoke-with-response-stream   invoke-stream    event stream of `chunk` frames
 *   POST /model/{modelId}/count-tokens                  count-tokens     {"inputTokens": n}
 *   POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply   apply-guardrail
 *   (the middle column is the operation name used by rule selectors and records). Path labels are
 *   percent-encoded (%3A, %2F). Auth: SigV4 (service `bedrock`, the listener's region) or `Authorization: Bearer
 *   <API key>`; none → 403 MissingAuthenticationTokenException; SigV4 failures → 403 InvalidSignatureException /
 *   UnrecognizedClientException / IncompleteSignatureException. A `/model/...` path that does not parse (e.g. an
 *   ARN with a raw `/`, or an unknown action) gets HTTP 200 `{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}`,
 *   as real Bedrock does. Order of checks: auth → route → unknown model / guardrail (404) → body (400) → fault rule
 *   → quota (model inference only). Every model ID is known unless listed in `unknownModels`.
 *
 * Answers: text `Hello from {region} (model {modelId}).` (or `Calling {tool} from …` plus a tool call when tools are
 * offered, text again after a tool result); input tokens ≈ ceil(chars / 4) over message and system text, tool
 * inputs and results, thinking (tool definitions are not counted); the same question gets the same answer and
 * tokens from Converse and InvokeModel.
 *
 * InvokeModel bodies, by model family (read from the ID; an ARN that does not name its model, e.g. an application
 * inference profile, is read as Anthropic when the body has `anthropic_version`, else as Nova):
 *   anthropic.* (also us./eu./global.… profiles, ARNs, Anthropic prompt routers): the Messages body as Bedrock takes
 *     it — `anthropic_version` (any string), `max_tokens`, `messages` required; `system` (string or text blocks),
 *     `tools`, `tool_choice` {type auto|any|tool|none, name}, `temperature`/`top_p` (0–1), `top_k`,
 *     `stop_sequences`, `thinking` {type enabled (budget_tokens ≥ 1024, < max_tokens)|adaptive|disabled},
 *     `anthropic_beta`, `metadata`, `output_config`, `output_format`, `context_management`; any other key (`model`,
 *     `stream`, …) → 400 "Malformed input request: #: extraneous key [model] is not permitted, …". Answer
 *     `{id: "msg_bdrk_01…", type: "message", role: "assistant", model: Anthropic's name (us.anthropic.claude-sonnet-4-6
 *     → claude-sonnet-4-6; IDs naming no model as given), content: [thinking?, text, tool_use {id: "toolu_bdrk_01…",
 *     name, input}?], stop_reason: end_turn|tool_use|max_tokens|stop_sequence, stop_sequence, usage: {input_tokens,
 *     cache_creation_input_tokens, cache_read_input_tokens, cache_creation: {ephemeral_5m_input_tokens,
 *     ephemeral_1h_input_tokens}, output_tokens}}`. Thinking: a `thinking` block (text + signature) first, counted
 *     as output. Prompt caching (./prompt-cache): each `cache_control` block (≤ 4) ends a cached prefix; the longest
 *     prefix cached for this account+region+model (at a breakpoint or up to 20 blocks before one) is read, the rest
 *     up to the last breakpoint written (split by TTL), all kept 5 min (or `ttl: "1h"`) on the simulator clock; no
 *     minimum length; reset clears the cache. Converse and ConverseStream do the same with `cachePoint` blocks (≤ 4,
 *     in tools, system or messages) and report `cacheReadInputTokens` / `cacheWriteInputTokens` in `usage`.
 *   amazon.nova*: `{schemaVersion?, system?, messages, inferenceConfig? {maxTokens | max_new_tokens, stopSequences…},
 *     toolConfig?}` → `{output: {message: {role, content: [{text}, {toolUse}?]}}, stopReason, usage: {inputTokens,
 *     outputTokens, totalTokens, cacheReadInputTokenCount: 0, cacheWriteInputTokenCount: 0}}`.
 *   other families (meta., mistral., cohere., amazon.titan, …): 400 ValidationException saying the simulator does
 *     not model their native body (use Converse).
 *   Headers: content-type application/json, x-amzn-RequestId, X-Amzn-Bedrock-Input-Token-Count (uncached input),
 *   -Output-Token-Count, -Invocation-Latency, and -Cache-Read-/-Cache-Write-Input-Token-Count when the cache was
 *   used; X-Amzn-Bedrock-PerformanceConfig-Latency and -Service-Tier are echoed from the request.
 * InvokeModelWithResponseStream: frames `:event-type: chunk`, payload `{"bytes": base64(event JSON), "p": padding}`;
 *   header X-Amzn-Bedrock-Content-Type: application/json. Anthropic events: message_start (usage, output_tokens 1),
 *   per block content_block_start / _delta (text_delta, input_json_delta starting with "", thinking_delta,
 *   signature_delta) / _stop, message_delta {stop_reason, stop_sequence, usage.output_tokens}, message_stop with
 *   `amazon-bedrock-invocationMetrics` {inputTokenCount, outputTokenCount, invocationLatency, firstByteLatency,
 *   cacheRead-/cacheWriteInputTokenCount when cached}. Nova: the Converse events as `{"<event>": payload}`, the
 *   last (`metadata`) with the same metrics.
 * CountTokens: `{"input": {"converse": {...}}}` or `{"input": {"invokeModel": {"body": base64}}}` → `{"inputTokens"}`
 *   = what the model reports as input (Anthropic: input + cache write + cache read). Anthropic models (and IDs naming
 *   no model) only; Nova and others → 400 "The provided model doesn't support counting tokens.". No quota use.
 * ApplyGuardrail (./guardrail): `{source: INPUT|OUTPUT, content: [{text: {text, qualifiers?}} | {image}],
 *   outputScope?}`. Known guardrails: `SimConfig.guardrails` [{id, versions?, blockedWords?, blockedInputMessaging?,
 *   blockedOutputsMessaging?}]; unset = every well-formed ID/ARN and version (`DRAFT`, `1`…) with blocked word
 *   `BLOCKME`. Unknown → 404 ResourceNotFoundException; malformed ID/version → 400. A blocked word (whole word,
 *   any case) in a guarded block (not one qualified only as grounding_source/query) → `{usage, action:
 *   "GUARDRAIL_INTERVENED", actionReason: "Guardrail blocked.", outputs: [{text: "Sorry, the model cannot answer
 *   this question."}], assessments: [{wordPolicy: {customWords: [{match, action: "BLOCKED", detected: true}],
 *   managedWordLists: []}, invocationMetrics}], guardrailCoverage}`; otherwise action "NONE", actionReason
 *   "No action.", outputs []. Usage: wordPolicyUnits = ceil(guarded chars / 1000), other units 0. No quota use;
 *   stats and rule selectors key it as `guardrail/{guardrailIdentifier}`.
 *
 * Control API (same listener, no auth, JSON in and out; errors are 400 `{"error": "..."}`)
 *   GET    /__sim/health                 {ok, region, now}
 *   POST   /__sim/rules                  FaultRule or FaultRule[]            → {id} | {ids}
 *   GET    /__sim/rules                  {rules: [{...rule, id, remaining, hits}]}
 *   DELETE /__sim/rules/{id}             {removed}
 *   DELETE /__sim/rules  (= POST /__sim/reset)   clear rules, quotas, stats, records, prompt cache, clock offset;
 *                                        restore the config/rules/quotas given at construction and restart
 *                                        the random faults from the construction seed
 *   POST   /__sim/reset  {seed?}         the same; with `seed`, restart from that seed  → {ok, seed}
 *   POST   /__sim/quota                  QuotaRule → {id}   (same region+modelId replaces)   GET → {quotas}
 *   POST   /__sim/config                 partial {responseChars, frameDelayMs, chunkSizes, unknownModels,
 *                                        defaultMaxTokens, seed, guardrails} (null resets a field; setting `seed`
 *                                        restarts the random sequence) → config    GET → config
 *   GET    /__sim/stats                  {region: {modelId | guardrail/{id}: {accepted, rejected, errors{type:n},
 *                                        streamsCut, streamExceptions, streamsCancelled, inputTokens (uncached), outputTokens,
 *                                        cacheReadInputTokens, cacheWriteInputTokens, windowRequests, windowTokens}}}
 *   GET    /__sim/requests?region=&modelId=&operation=&limit=   {requests: [{time, requestId, region, method,
 *                                        path, modelId, operation, guardrailIdentifier?, guardrailVersion?,
 *                                        headers (no authorization), body, auth, status, errorType}]}
 *   POST   /__sim/clock                  {advanceMs} → {now}   (moves quota windows forward)
 *
 * FaultRule JSON: common {id?, region?, modelId? (exact, or prefix ending in *; ApplyGuardrail matches as
 * `guardrail/{guardrailIdentifier}`, e.g. "guardrail/*"), operation? ("converse" | "converse-stream" | "invoke" |
 * "invoke-stream" | "count-tokens" | "apply-guardrail"; unset = all), times? (next N struck requests; unset =
 * always), probability? (0 < p <= 1, default 1: strike each matching request with this probability, drawn from the
 * seeded RNG; one not struck goes on to later rules and normal handling)} plus one of
 *   {fault:"throttle", message?, retryAfterSeconds?}                 429 ThrottlingException
 *   {fault:"error", status, errorType, message?, retryAfterSeconds?} e.g. 503 ServiceUnavailableException
 *   {fault:"stall", ms?}              hold before the headers, then answer; no ms = until the client aborts
 *                                     or close() (recorded as status 499 RequestAborted); no timer outlives it
 *   {fault:"cut", afterFrames, partialBytes?}                       stream only: break the connection
 *   {fault:"exception", afterFrames, exceptionType?, message?}      stream only: exception frame, then end
 *     (exceptionType: throttlingException (default), modelStreamErrorException, internalServerException,
 *     validationException, serviceUnavailableException, and for invoke-stream modelTimeoutException)
 *   {fault:"delay", firstFrameMs?, frameDelayMs?}                   stream only
 *   {fault:"corrupt", afterFrames}    stream only: that frame's last payload byte flipped (its message CRC fails)
 *   {fault:"reset"}                   the connection is dropped before any response byte (fetch fails)
 *   {fault:"garbage", body?}          HTTP 200 with a non-JSON body (a proxy's HTML page), any operation
 * The first matching rule (in insertion order) that strikes applies; stream-only rules match converse-stream and
 * invoke-stream only (a stream-only rule whose `operation` is not a stream is refused). Errors, throttles and
 * stalls apply to every operation, CountTokens and ApplyGuardrail included.
 * A slow but successful region: {fault:"stall", ms} (any operation) or {fault:"delay", firstFrameMs}.
 * QuotaRule JSON: {id?, region?, modelId?, rpm?, tpm?, burndown? (default 1), defaultMaxTokens?}; a sliding 60 s
 * window per region+model, shared by converse, converse-stream, invoke and invoke-stream (not count-tokens or
 * apply-guardrail, which Bedrock does not count against model quotas); reserve input (cached or not) + maxTokens /
 * max_tokens (or defaultMaxTokens, default 4096) at the start, settle to input + cache writes + output × burndown
 * at the end (cache reads are not counted); over the limit → 429 ThrottlingException.
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
