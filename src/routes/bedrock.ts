/**
 * Bedrock-compatible routes: POST /model/{modelId}/converse and /converse-stream. `{modelId}` is a pool name
 * or any model ID of a pool. Bodies pass through without strict validation (Bedrock adds fields); only what
 * the router must understand is checked, and nothing invalid is sent upstream.
 */
import { Hono, type Context } from 'hono'
import type { AppEnv } from '../app'
import type { Operation } from '../bedrock/client'
import { bedrockError, notFoundError, validationError } from '../bedrock/errors'
import { loadConfig, resolvePool } from '../config/load'
import { ConfigError } from '../config/schema'
import { dispatch } from '../router/dispatch'
import { estimateRequest } from '../routing/estimate'
import { closingConnection, MAX_BODY_BYTES } from './request-body'


export const bedrockRoutes = new Hono<AppEnv>()

bedrockRoutes.post('/model/:modelId/converse', (c) => handle(c, 'converse'))
bedrockRoutes.post('/model/:modelId/converse-stream', (c) => handle(c, 'converse-stream'))

async function handle(c: Context<AppEnv>, operation: Operation): Promise<Response> {
  let loaded
  try {
    loaded = loadConfig(c.env?.ROUTER_CONFIG)
  } catch (e) {
    if (e instanceof ConfigError) return bedrockError(500, 'InternalServerException', `The router is misconfigured: ${e.problems.join('; ')}`)
    throw e
  }
  const modelId = c.req.param('modelId') ?? ''
  const pool = resolvePool(loaded, modelId)
  if (!pool) return notFoundError(`Model ${JSON.stringify(modelId)} is not served by this router: use a pool name or a model ID of a configured pool.`)

  const length = Number(c.req.header('content-length') ?? 0)
  // Too large: the rest of the body stays unread, so this connection cannot carry another request.
  if (length > MAX_BODY_BYTES) return closingConnection(validationError(`Request body is larger than ${MAX_BODY_BYTES} bytes.`))
  const bodyText = await readBounded(c.req.raw, MAX_BODY_BYTES)
  if (bodyText === undefined) return closingConnection(validationError(`Request body is larger than ${MAX_BODY_BYTES} bytes.`))
  let body: unknown
  try {
    body = JSON.parse(bodyText)
  } catch (e) {
    return validationError(`Malformed input request: the body is not valid JSON (${(e as Error).message}).`)
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return validationError('Malformed input request: the body must be a JSON object.')
  }
  const messages = (body as Record<string, unknown>).messages
  if (messages !== undefined && !Array.isArray(messages)) {
    return validationError('Malformed input request: messages must be an array.')
  }

  const accept = c.req.header('accept') ?? ''
  const format = operation === 'converse-stream' && accept.includes('text/event-stream') ? 'sse' : 'eventstream'
  return dispatch({
    env: c.env ?? {},
    pool,
    store: c.get('store'),
    operation,
    requestedModel: modelId,
    body: body as Record<string, unknown>,
    bodyText,
    estimate: estimateRequest(body, operation === 'converse-stream'),
    format,
    waitUntil: waitUntilOf(c),
    clientSignal: c.req.raw.signal,
    client: c.get('client'),
  })
}

/** The body as text, or undefined as soon as it grows past `max` bytes (chunked uploads have no length). */
async function readBounded(req: Request, max: number): Promise<string | undefined> {
  if (!req.body) return ''
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      return undefined
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return new TextDecoder().decode(chunks[0])
  const all = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    all.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(all)
}

function waitUntilOf(c: Context<AppEnv>): (p: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx
    return (p) => ctx.waitUntil(p)
  } catch {
    return (p) => void p.catch(() => {})
  }
}
