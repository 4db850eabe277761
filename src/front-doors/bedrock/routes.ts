/**
 * The Bedrock front door: POST /model/{modelId}/converse and /converse-stream, what AWS SDKs, Strands,
 * LangChain and the Vercel AI SDK call. `{modelId}` is a pool name or any model ID of a pool. Bodies are
 * already Converse requests and pass through without strict validation (Bedrock adds fields); only what the
 * router must understand is checked, and nothing invalid is sent upstream.
 */
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../../app'
import { route } from '../../engine/engine'
import { clientAuth } from '../../routes/auth'
import { closingConnection } from '../../routes/request-body'
import type { Operation } from '../../upstream/bedrock'
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

async function handle(c: Context<AppEnv>, operation: Operation): Promise<Response> {
  const modelId = c.req.param('modelId') ?? ''
  const pool = poolFor(c, modelId)
  if (!pool.ok) return problemResponse(pool.problem)
  const read = await readJsonObject(c.req.raw)
  if (!read.ok) return problemResponse(read.problem)
  const { body, text } = read.value
  if (body.messages !== undefined && !Array.isArray(body.messages)) {
    return validationError('Malformed input request: messages must be an array.')
  }

  const outcome = await route(
    { pool: pool.value, operation, requestedModel: modelId, body, bodyText: text, client: c.get('client'), frontDoor: 'bedrock', tags: tagsOf(body.requestMetadata), signal: c.req.raw.signal },
    { env: c.env ?? {}, store: c.get('store'), waitUntil: waitUntilOf(c) },
  )
  const sse = operation === 'converse-stream' && (c.req.header('accept') ?? '').includes('text/event-stream')
  return renderBedrock(outcome, sse ? 'sse' : 'eventstream')
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
