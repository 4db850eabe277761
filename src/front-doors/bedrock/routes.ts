/**
 * The Bedrock front door: POST /model/{modelId}/converse, /converse-stream, /invoke and
 * /invoke-with-response-stream, what AWS SDKs, Strands, LangChain, the Vercel AI SDK and the Anthropic Bedrock SDK
 * call. `{modelId}` is a pool name or any model ID of a pool. Converse bodies pass through without strict
 * validation (Bedrock adds fields); InvokeModel bodies are the model's own format and go only to deployments of
 * that model's family. Only what the router must understand is checked, and nothing invalid is sent upstream.
 */
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../../app'
import { route } from '../../engine/engine'
import { clientAuth } from '../../routes/auth'
import { closingConnection } from '../../routes/request-body'
import { isInvoke, isStreaming, type Operation } from '../../upstream/bedrock'
import { poolFor, readJsonObject, waitUntilOf, type RequestProblem } from '../request'
import { bedrockError, unauthorizedError, validationError } from './errors'
import { renderBedrock } from './render'

export const bedrockRoutes = new Hono<AppEnv>()

bedrockRoutes.use(
  '/model/*',
  clientAuth((failure) =>
    failure.status === 401 ? unauthorizedError(failure.message) : bedrockError(failure.status, 'ServiceUnavailableException', failure.message),
  ),
)
bedrockRoutes.post('/model/:modelId/converse', (c) => handle(c, 'converse'))
bedrockRoutes.post('/model/:modelId/converse-stream', (c) => handle(c, 'converse-stream'))
bedrockRoutes.post('/model/:modelId/invoke', (c) => handle(c, 'invoke'))
bedrockRoutes.post('/model/:modelId/invoke-with-response-stream', (c) => handle(c, 'invoke-stream'))

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
  const read = await readJsonObject(c.req.raw)
  if (!read.ok) return problemResponse(read.problem)
  const { body, text } = read.value
  const invoke = isInvoke(operation)
  if (!invoke && body.messages !== undefined && !Array.isArray(body.messages)) {
    return validationError('Malformed input request: messages must be an array.')
  }
  const sse = isStreaming(operation) && (c.req.header('accept') ?? '').includes('text/event-stream')

  const outcome = await route(
    {
      pool: pool.value,
      operation,
      requestedModel: modelId,
      body,
      bodyText: text,
      upstreamHeaders: invoke ? invokeHeaders(c, operation, sse) : undefined,
      client: c.get('client'),
      frontDoor: 'bedrock',
      tags: invoke ? undefined : tagsOf(body.requestMetadata),
      signal: c.req.raw.signal,
    },
    { env: c.env ?? {}, store: c.get('store'), waitUntil: waitUntilOf(c) },
  )
  return renderBedrock(outcome, sse ? 'sse' : 'eventstream')
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
      : problem.status === 500
        ? bedrockError(500, 'InternalServerException', problem.message)
        : validationError(problem.message)
  return problem.closeConnection ? closingConnection(res) : res
}
