/** The Bedrock request pipeline: auth → route → unknown model → body → fault rule → quota → answer. */
import { converseAnswer, streamAnswer } from './answer'
import { authenticate } from './auth'
import { parseConverseBody } from './converse-request'
import { awsError, errorResponse, type AwsError } from './errors'
import { planAnswer } from './responses'
import { modelMatches } from './selector'
import { sleep } from './sleep'
import type { SimState } from './state'
import type { Operation, StoredRule } from './types'

const ROUTE = /^\/model\/([^/]+)\/(converse|converse-stream)$/

/** What Bedrock answers (HTTP 200!) when the path does not parse, e.g. an ARN model ID with a raw `/`. */
const UNKNOWN_OPERATION_BODY = '{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}'

function decodeModelId(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}

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

function faultError(rule: StoredRule): AwsError | undefined {
  if (rule.fault === 'throttle') return awsError(429, 'ThrottlingException', rule.message, rule.retryAfterSeconds)
  if (rule.fault === 'error') return awsError(rule.status, rule.errorType, rule.message, rule.retryAfterSeconds)
  return undefined
}

export async function answerRequest(state: SimState, req: Request, url: URL, region: string): Promise<Response> {
  const requestId = crypto.randomUUID()
  const startedAt = Date.now()
  const body = new Uint8Array(await req.arrayBuffer())
  const text = new TextDecoder().decode(body)
  const route = req.method === 'POST' ? ROUTE.exec(url.pathname) : null
  const modelId = route ? decodeModelId(route[1]) : undefined
  const operation = route?.[2] as Operation | undefined

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
  const rec = state.recorder.add(
    { time: state.now(), requestId, region, method: req.method, path: url.pathname, modelId, operation, headers, body: bodyForRecord(text), auth: auth.summary, status: 0 },
    req.headers.get('authorization'),
  )
  const reject = (err: AwsError): Response => {
    rec.status = err.status
    rec.errorType = err.errorType
    if (modelId !== undefined) state.recorder.rejected(region, modelId, err.errorType)
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
  if (modelId === undefined || modelId === '') return reject(awsError(400, 'ValidationException', 'The provided model identifier is invalid.'))
  if (isUnknownModel(state, region, modelId)) return reject(awsError(404, 'ResourceNotFoundException'))
  const parsed = parseConverseBody(text)
  if (!parsed.ok) return reject(parsed.error)
  const op = operation!

  const rule = state.faults.take(region, modelId, op)
  const ruleError = rule && faultError(rule)
  if (ruleError) return reject(ruleError)
  const closed = state.requestSignal()
  if (rule?.fault === 'stall') {
    if (!(await sleep(rule.ms ?? Infinity, [req.signal, closed.signal]))) {
      closed.release()
      return reject(awsError(499, 'RequestAborted', 'The client closed the request.'))
    }
  }

  const plan = planAnswer({ body: parsed.body, modelId, region, responseChars: state.config.responseChars, seq: state.nextSeq() })
  const quota = state.quotas.reserve(region, modelId, plan.inputTokens, parsed.body.inferenceConfig?.maxTokens)
  if (!quota.ok) {
    closed.release()
    const what = quota.reason === 'rpm' ? 'requests' : 'tokens'
    return reject(awsError(429, 'ThrottlingException', `Too many ${what}, please wait before trying again.`))
  }

  rec.status = 200
  state.recorder.accepted(region, modelId)
  const ctx = {
    plan,
    requestId,
    config: state.config,
    rule,
    startedAt,
    signals: [req.signal, closed.signal],
    onEnd: (outputTokens: number, how: string) => {
      closed.release()
      state.quotas.settle(quota.reservation, plan.inputTokens, outputTokens)
      state.recorder.tokens(region, modelId, plan.inputTokens, outputTokens)
      if (how === 'cut' || how === 'exception') state.recorder.streamEnded(region, modelId, how)
    },
  }
  return op === 'converse' ? converseAnswer(ctx) : streamAnswer(ctx)
}
