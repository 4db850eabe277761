/**
 * The Bedrock request pipeline, the same for every operation: auth → route → unknown model / guardrail → body →
 * fault rule → quota (model inference only) → answer.
 */
import { converseAnswer, converseStreamAnswer, invokeAnswer, invokeStreamAnswer } from './answer'
import { authenticate } from './auth'
import { converseCachePoints, parseConverseBody, type ConverseBody } from './converse-request'
import { countTokens } from './count-tokens'
import { awsError, errorResponse, type AwsError } from './errors'
import { applyGuardrail, checkGuardrailPath, findGuardrail, parseApplyGuardrail, unknownGuardrail, type ApplyGuardrailBody } from './guardrail'
import { parseInvokeBody, type NativeFormat } from './invoke-request'
import { parseRoute, QUOTA_OPERATIONS, resourceKey } from './operations'
import type { CachePoint } from './prompt-cache'
import { planAnswer, tokenUsage } from './responses'
import { modelMatches } from './selector'
import { sleep } from './sleep'
import type { SimState } from './state'
import type { GuardrailConfig, StoredRule } from './types'

/** What Bedrock answers (HTTP 200!) when the path does not parse, e.g. an ARN model ID with a raw `/`. */
const UNKNOWN_OPERATION_BODY = '{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}'

/** Request headers InvokeModel answers echo (Bedrock reports the performance config and tier it applied). */
const ECHOED_HEADERS = ['X-Amzn-Bedrock-PerformanceConfig-Latency', 'X-Amzn-Bedrock-Service-Tier']

/** A request checked and parsed, ready for the fault rules and its answer. */
type Prepared =
  | {
      kind: 'inference'
      converse: ConverseBody
      /** Native InvokeModel body format; undefined for Converse. */
      format?: NativeFormat
      maxTokens?: number
      stopSequences?: string[]
      thinking?: boolean
      cachePoints: CachePoint[]
    }
  | { kind: 'count'; inputTokens: number }
  | { kind: 'guardrail'; guardrail: GuardrailConfig; body: ApplyGuardrailBody }

function bodyForRecord(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function isUnknownModel(state: SimState, region: string, modelId: string): boolean {
  return (state.config.unknownModels ?? []).some((u) =>
    typeof u === 'string' ? modelMatches(u, modelId) : (u.region === undefined || u.region === region) && modelMatches(u.modelId, modelId),
  )
}

/** Thrown for a `reset` rule: the server adapter drops the connection without answering (node-server.ts). */
export class ConnectionReset extends Error {
  constructor() {
    super('simulated connection reset')
  }
}

const GARBAGE = '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>'

function faultError(rule: StoredRule): AwsError | undefined {
  if (rule.fault === 'throttle') return awsError(429, 'ThrottlingException', rule.message, rule.retryAfterSeconds)
  if (rule.fault === 'error') return awsError(rule.status, rule.errorType, rule.message, rule.retryAfterSeconds)
  return undefined
}

const json = (body: unknown, requestId: string) =>
  new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', 'x-amzn-RequestId': requestId } })

export async function answerRequest(state: SimState, req: Request, url: URL, region: string): Promise<Response> {
  const requestId = crypto.randomUUID()
  const startedAt = Date.now()
  const body = new Uint8Array(await req.arrayBuffer())
  const text = new TextDecoder().decode(body)
  const route = req.method === 'POST' ? parseRoute(url.pathname) : undefined
  const operation = route?.operation
  const modelId = route && route.operation !== 'apply-guardrail' ? route.modelId : undefined
  const guardrailPath = route?.operation === 'apply-guardrail' ? route : undefined
  // Stats and rule selectors key on this: the model ID, or `guardrail/{identifier}`.
  const key = route && resourceKey(route)

  const auth = await authenticate({ method: req.method, url, headers: req.headers, body }, region, {
    credentials: state.credentials,
    apiKeys: state.apiKeys,
    requireAuth: state.requireAuth,
    now: state.signingClock(),
  })
  const headers: Record<string, string> = {}
  req.headers.forEach((v, k) => {
    if (k !== 'authorization') headers[k] = v
  })
  const guardrailFields = guardrailPath ? { guardrailIdentifier: guardrailPath.guardrailIdentifier, guardrailVersion: guardrailPath.guardrailVersion } : {}
  const rec = state.recorder.add(
    {
      time: state.now(),
      requestId,
      region,
      method: req.method,
      path: url.pathname,
      modelId,
      operation,
      ...guardrailFields,
      headers,
      body: bodyForRecord(text),
      auth: auth.summary,
      status: 0,
    },
    req.headers.get('authorization'),
  )
  const reject = (err: AwsError): Response => {
    rec.status = err.status
    rec.errorType = err.errorType
    if (key) state.recorder.rejected(region, key, err.errorType)
    return errorResponse(err, requestId)
  }

  if (auth.error) return reject(auth.error)
  if (!route) {
    if (url.pathname.startsWith('/model/') && req.method === 'POST') {
      rec.status = 200
      rec.errorType = 'UnknownOperationException'
      return new Response(UNKNOWN_OPERATION_BODY, { status: 200, headers: { 'content-type': 'application/json', 'x-amzn-RequestId': requestId } })
    }
    return reject(awsError(404, 'UnknownOperationException', 'Unknown operation'))
  }

  let prepared: Prepared
  if (route.operation === 'apply-guardrail') {
    const { guardrailIdentifier: id, guardrailVersion: version } = route
    const pathError = checkGuardrailPath(id, version)
    if (pathError) return reject(pathError)
    const guardrail = findGuardrail(state.config.guardrails, id!, version!)
    if (!guardrail) return reject(unknownGuardrail())
    const parsed = parseApplyGuardrail(text)
    if (!parsed.ok) return reject(parsed.error)
    prepared = { kind: 'guardrail', guardrail, body: parsed.body }
  } else {
    if (modelId === undefined || modelId === '') return reject(awsError(400, 'ValidationException', 'The provided model identifier is invalid.'))
    if (isUnknownModel(state, region, modelId)) return reject(awsError(404, 'ResourceNotFoundException'))
    if (route.operation === 'count-tokens') {
      const counted = countTokens(modelId, text)
      if (!counted.ok) return reject(counted.error)
      prepared = { kind: 'count', inputTokens: counted.inputTokens }
    } else if (route.operation === 'invoke' || route.operation === 'invoke-stream') {
      const parsed = parseInvokeBody(modelId, text)
      if (!parsed.ok) return reject(parsed.error)
      prepared = { kind: 'inference', ...parsed.request }
    } else {
      const parsed = parseConverseBody(text)
      if (!parsed.ok) return reject(parsed.error)
      const cache = converseCachePoints(parsed.body)
      if (!cache.ok) return reject(cache.error)
      prepared = { kind: 'inference', converse: parsed.body, maxTokens: parsed.body.inferenceConfig?.maxTokens, cachePoints: cache.points }
    }
  }
  const op = route.operation

  const rule = state.faults.take(region, key!, op)
  const ruleError = rule && faultError(rule)
  if (ruleError) return reject(ruleError)
  if (rule?.fault === 'reset') {
    rec.status = 0
    rec.errorType = 'ConnectionReset'
    throw new ConnectionReset()
  }
  if (rule?.fault === 'garbage') {
    rec.status = 200
    rec.errorType = 'Garbage'
    return new Response(rule.body ?? GARBAGE, { status: 200, headers: { 'content-type': 'text/html', 'x-amzn-RequestId': requestId } })
  }
  const closed = state.requestSignal()
  if (rule?.fault === 'stall') {
    if (!(await sleep(rule.ms ?? Infinity, [req.signal, closed.signal]))) {
      closed.release()
      return reject(awsError(499, 'RequestAborted', 'The client closed the request.'))
    }
  }

  // CountTokens and ApplyGuardrail run no model: no quota, no tokens in the stats.
  if (prepared.kind !== 'inference') {
    closed.release()
    rec.status = 200
    state.recorder.accepted(region, key!)
    if (prepared.kind === 'count') return json({ inputTokens: prepared.inputTokens }, requestId)
    return json(applyGuardrail(prepared.guardrail, prepared.body, Math.max(1, Date.now() - startedAt)), requestId)
  }

  const model = modelId!
  const plan = planAnswer({
    body: prepared.converse,
    modelId: model,
    region,
    responseChars: state.config.responseChars,
    seq: state.nextSeq(),
    stopSequences: prepared.stopSequences,
    thinking: prepared.thinking,
  })
  // Bedrock reserves input (cached or not) + max_tokens up front.
  const quota = QUOTA_OPERATIONS.has(op) ? state.quotas.reserve(region, model, plan.inputTokens, prepared.maxTokens) : undefined
  if (quota && !quota.ok) {
    closed.release()
    const what = quota.reason === 'rpm' ? 'requests' : 'tokens'
    return reject(awsError(429, 'ThrottlingException', `Too many ${what}, please wait before trying again.`))
  }
  // Caches are per account, region and model: the account is the caller's access key (or API key).
  const account = auth.summary.scheme === 'sigv4' ? auth.summary.accessKeyId : auth.summary.scheme === 'bearer' ? auth.summary.keyHint : 'anonymous'
  const cache = prepared.cachePoints.length ? state.promptCache.use(`${account}\n${region}\n${model}`, prepared.cachePoints) : undefined
  const usage = tokenUsage(plan, cache)

  rec.status = 200
  state.recorder.accepted(region, model)
  const echoHeaders: Record<string, string> = {}
  for (const h of ECHOED_HEADERS) {
    const v = req.headers.get(h)
    if (v !== null) echoHeaders[h] = v
  }
  const ctx = {
    plan,
    usage,
    modelId: model,
    requestId,
    config: state.config,
    rule,
    startedAt,
    echoHeaders,
    signals: [req.signal, closed.signal],
    onEnd: (outputTokens: number, how: string) => {
      closed.release()
      // Settled as Bedrock does: cache reads are not counted, cache writes are.
      if (quota?.ok) state.quotas.settle(quota.reservation, usage.input + usage.cacheWrite, outputTokens)
      state.recorder.tokens(region, model, usage.input, outputTokens, usage.cacheRead, usage.cacheWrite)
      if (how === 'cut' || how === 'exception' || how === 'cancelled') state.recorder.streamEnded(region, model, how)
    },
  }
  switch (op) {
    case 'converse':
      return converseAnswer(ctx)
    case 'converse-stream':
      return converseStreamAnswer(ctx)
    case 'invoke':
      return invokeAnswer(ctx, prepared.format!)
    default:
      return invokeStreamAnswer(ctx, prepared.format!)
  }
}
