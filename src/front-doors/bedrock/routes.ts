/**
 * The Bedrock front door: POST /model/{modelId}/converse, /converse-stream, /invoke and
 * /invoke-with-response-stream, what AWS SDKs, Strands, LangChain, the Vercel AI SDK and the Anthropic Bedrock SDK
 * call. `{modelId}` is a pool name or any model ID of a pool. Converse bodies pass through without strict
 * validation (Bedrock adds fields); InvokeModel bodies are the model's own format and go only to deployments of
 * that model's family. Only what the router must understand is checked, and nothing invalid is sent upstream.
 */
import type { Context } from 'hono'
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../../app'
import { base64ToUtf8, jsonObject } from '../../wire/base64'
import { countTokens } from '../../engine/count-tokens'
import { routeWithPolicies } from '../../policy/route'
import { clientAuth } from '../../routes/auth'
import { closingConnection } from '../../routes/request-body'
import { isInvoke, isStreaming, sendGuardrail, type Operation } from '../../upstream/bedrock'
import { resolveCredentials } from '../../upstream/credentials'
import { configFor, engineContext, policyContext, poolFor, readRequestJson, requestTags, requestSession, type RequestProblem } from '../request'
import { bedrockError, unauthorizedError, validationError } from './errors'
import { renderBedrock } from './render'

export const bedrockRoutes = new Hono<AppEnv>()

const auth = clientAuth(
  (failure) =>
    failure.status === 401
      ? unauthorizedError(failure.message)
      : bedrockError(failure.status, failure.status === 403 ? 'AccessDeniedException' : 'ServiceUnavailableException', failure.message),
  { frontDoor: 'bedrock' },
)
bedrockRoutes.use('/model/*', auth)
bedrockRoutes.post('/model/:modelId/converse', (c) => handle(c, 'converse'))
bedrockRoutes.post('/model/:modelId/converse-stream', (c) => handle(c, 'converse-stream'))
bedrockRoutes.post('/model/:modelId/invoke', (c) => handle(c, 'invoke'))
bedrockRoutes.post('/model/:modelId/invoke-with-response-stream', (c) => handle(c, 'invoke-stream'))
bedrockRoutes.post('/model/:modelId/count-tokens', handleCountTokens)
bedrockRoutes.use('/guardrail/*', auth)
bedrockRoutes.post('/guardrail/:id/version/:version/apply', applyGuardrail)

/** InvokeModel's request headers that shape the call (trace, guardrail, latency, service tier, formats): passed on. */
const INVOKE_HEADERS = [
  'x-amzn-bedrock-trace',
  'x-amzn-bedrock-guardrailidentifier',
  'x-amzn-bedrock-guardrailversion',
  'x-amzn-bedrock-performanceconfig-latency',
  'x-amzn-bedrock-service-tier',
  'x-amzn-bedrock-accept',
]

async function handle(c: Context<AppEnv>, operation: Operation): Promise<Response> {
  const modelId = c.req.param('modelId') ?? ''
  const pool = poolFor(c, modelId)
  if (!pool.ok) return problemResponse(pool.problem)
  const read = await readRequestJson(c)
  if (!read.ok) return problemResponse(read.problem)
  const { body, text } = read.value
  const invoke = isInvoke(operation)
  if (!invoke && body.messages !== undefined && !Array.isArray(body.messages)) {
    return validationError('Malformed input request: messages must be an array.')
  }
  const sse = isStreaming(operation) && (c.req.header('accept') ?? '').includes('text/event-stream')

  const outcome = await routeWithPolicies(
    {
      pool: pool.value,
      operation,
      requestedModel: modelId,
      body,
      bodyText: text,
      upstreamHeaders: invoke ? invokeHeaders(c, operation, sse) : undefined,
      nativeFamily: invoke ? nativeFamilyOf(body) : undefined,
      client: c.get('client'),
      identity: c.get('identity'),
      frontDoor: 'bedrock',
      tags: requestTags(c, invoke ? undefined : tagsOf(body.requestMetadata)),
      session: requestSession(c),
      signal: c.req.raw.signal,
    },
    policyContext(c),
  )
  return renderBedrock(outcome, sse ? 'sse' : 'eventstream')
}

/** CountTokens: `{"input": {"converse": {...}}}` or `{"input": {"invokeModel": {"body": "<base64>"}}}`, on a usable deployment. */
async function handleCountTokens(c: Context<AppEnv>): Promise<Response> {
  const modelId = c.req.param('modelId') ?? ''
  const pool = poolFor(c, modelId)
  if (!pool.ok) return problemResponse(pool.problem)
  const read = await readRequestJson(c)
  if (!read.ok) return problemResponse(read.problem)
  const input = read.value.body.input as Record<string, unknown> | undefined
  const form = input && typeof input === 'object' ? Object.keys(input) : []
  if (form.length !== 1 || (form[0] !== 'converse' && form[0] !== 'invokeModel') || typeof input![form[0]] !== 'object' || input![form[0]] === null) {
    return validationError('Malformed input request: input must hold exactly one of converse or invokeModel.')
  }
  const native = form[0] === 'invokeModel' ? decodedBody((input!.invokeModel as Record<string, unknown>).body) : undefined
  const outcome = await countTokens(
    {
      pool: pool.value,
      requestedModel: modelId,
      body: read.value.body,
      bodyText: read.value.text,
      family: native ? nativeFamilyOf(native) : undefined,
      client: c.get('client'),
      frontDoor: 'bedrock',
      tags: requestTags(c, undefined),
      signal: c.req.raw.signal,
    },
    engineContext(c),
  )
  return renderBedrock(outcome, 'eventstream')
}

/** ApplyGuardrail, sent to the region and credentials configured for that guardrail (`guardrails` in ROUTER_CONFIG). */
async function applyGuardrail(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param('id') ?? ''
  const version = c.req.param('version') ?? ''
  const loaded = configFor(c)
  if (!loaded.ok) return problemResponse(loaded.problem)
  const guardrail = loaded.value.config.guardrails[id]
  if (!guardrail) return bedrockError(404, 'ResourceNotFoundException', `Guardrail ${JSON.stringify(id)} is not configured on this router: add it to guardrails in ROUTER_CONFIG.`)
  if (!/^(DRAFT|[1-9][0-9]{0,7})$/.test(version)) return validationError('guardrailVersion must be DRAFT or a version number.')
  const read = await readRequestJson(c)
  if (!read.ok) return problemResponse(read.problem)
  const credentials = resolveCredentials(c.env ?? {}, guardrail.credentials)
  if (!credentials) return bedrockError(500, 'InternalServerException', `Guardrail ${id} has no upstream credentials configured.`)
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), GUARDRAIL_TIMEOUT_MS)
  c.req.raw.signal?.addEventListener('abort', () => abort.abort(), { once: true })
  try {
    const res = await sendGuardrail({ endpoint: guardrail.endpoint, region: guardrail.region, credentials, id, version, body: read.value.text, signal: abort.signal })
    const text = await res.text()
    const headers: Record<string, string> = { 'content-type': res.headers.get('content-type') ?? 'application/json', 'x-router-region': guardrail.region }
    for (const name of ['x-amzn-requestid', 'x-amzn-errortype', 'retry-after']) {
      const value = res.headers.get(name)
      if (value) headers[name] = value
    }
    return new Response(text, { status: res.status, headers })
  } catch (e) {
    const timedOut = abort.signal.aborted && !c.req.raw.signal?.aborted
    return bedrockError(timedOut ? 504 : 502, 'ServiceUnavailableException', timedOut ? 'ApplyGuardrail timed out upstream.' : 'ApplyGuardrail could not reach Bedrock.')
  } finally {
    clearTimeout(timer)
  }
}

const GUARDRAIL_TIMEOUT_MS = 30_000

/** CountTokens' `invokeModel.body` (base64 of a native body), parsed; undefined if it is not a JSON object. */
function decodedBody(b64: unknown): Record<string, unknown> | undefined {
  if (typeof b64 !== 'string') return undefined
  try {
    return jsonObject(base64ToUtf8(b64))
  } catch {
    return undefined // not base64
  }
}

/**
 * The family a native body is written for, when its shape says so: Anthropic's Messages body carries
 * `anthropic_version`. Otherwise the addressed model's family decides.
 */
function nativeFamilyOf(body: Record<string, unknown>): string | undefined {
  return typeof body.anthropic_version === 'string' ? 'anthropic' : undefined
}

function invokeHeaders(c: Context<AppEnv>, operation: Operation, sse: boolean): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const name of INVOKE_HEADERS) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  // InvokeModel's own body format is the accept header; the stream's is x-amzn-bedrock-accept (passed above).
  const accept = c.req.header('accept')
  if (operation === 'invoke' && accept && !sse) headers.accept = accept
  return headers
}

/** Converse's `requestMetadata` (a string map Bedrock uses to filter invocation logs) doubles as the request's tags. */
function tagsOf(metadata: unknown): Record<string, string> | undefined {
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return undefined
  const entries = Object.entries(metadata).filter(([, v]) => typeof v === 'string')
  return entries.length ? Object.fromEntries(entries) : undefined
}

/** A request problem as Bedrock would answer it (an oversized body is a ValidationException there too). */
function problemResponse(problem: RequestProblem): Response {
  const res =
    problem.status === 404
      ? bedrockError(404, 'ResourceNotFoundException', problem.message)
      : problem.status === 403
        ? bedrockError(403, 'AccessDeniedException', problem.message)
        : problem.status === 500
        ? bedrockError(500, 'InternalServerException', problem.message)
        : problem.status === 413 || problem.status === 408
          ? bedrockError(problem.status, 'ValidationException', problem.message)
          : validationError(problem.message)
  return problem.closeConnection ? closingConnection(res) : res
}
