/**
 * The OpenAI front door: POST /v1/chat/completions (plain and streamed), GET /v1/models and /v1/models/{id}, for
 * the `openai` clients, the Vercel AI SDK's OpenAI-compatible provider and chat UIs. `model` is a pool name or a
 * model ID of a pool; the request is translated into Converse (to-converse.ts), routed by the same engine as the
 * Bedrock routes, and rendered back (render.ts). Same client keys as the Bedrock routes.
 */
import type { Context } from 'hono'
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../../app'
import { allowsPool } from '../../auth/identity'
import { originDeployment } from '../../engine/engine'
import { routeWithPolicies } from '../../policy/route'
import { clientAuth } from '../../routes/auth'
import { closingConnection } from '../../routes/request-body'
import { configFor, policyContext, poolFor, readRequestJson, requestTags, requestSession, type RequestProblem } from '../request'
import { openAiError } from './errors'
import { renderOpenAi } from './render'
import { toConverse } from './to-converse'

export const openAiRoutes = new Hono<AppEnv>()

const AUTH_CODES = { 401: 'invalid_api_key', 403: 'permission_denied', 503: 'not_configured' } as const

openAiRoutes.use(
  '/v1/*',
  clientAuth((failure) => openAiError(failure.status, failure.message, { code: AUTH_CODES[failure.status] }), { frontDoor: 'openai' }),
)
openAiRoutes.post('/v1/chat/completions', chatCompletions)
openAiRoutes.get('/v1/models', (c) => {
  const models = listModels(c)
  return models instanceof Response ? models : c.json({ object: 'list', data: models })
})
openAiRoutes.get('/v1/models/*', (c) => {
  const id = decodeURIComponent(new URL(c.req.url).pathname.slice('/v1/models/'.length))
  const models = listModels(c)
  if (models instanceof Response) return models
  const model = models.find((m) => m.id === id)
  return model ? c.json(model) : openAiError(404, `The model ${JSON.stringify(id)} does not exist on this router.`, { code: 'model_not_found', param: 'model' })
})
openAiRoutes.all('/v1/*', (c) => openAiError(404, `Unknown request URL: ${c.req.method} ${new URL(c.req.url).pathname}.`, { code: 'unknown_url' }))

async function chatCompletions(c: Context<AppEnv>): Promise<Response> {
  const read = await readRequestJson(c)
  if (!read.ok) return problemResponse(read.problem)
  const body = read.value.body
  if (typeof body.model !== 'string' || !body.model) return openAiError(400, 'model must be a pool name or a model ID served by this router.', { param: 'model' })
  const pool = poolFor(c, body.model)
  if (!pool.ok) return problemResponse(pool.problem)
  const translated = toConverse(body, originDeployment(pool.value, body.model).modelId)
  if (!translated.ok) return openAiError(400, translated.refusal.message, { param: translated.refusal.param })
  const request = translated.value

  const outcome = await routeWithPolicies(
    {
      pool: pool.value,
      operation: request.stream ? 'converse-stream' : 'converse',
      requestedModel: body.model,
      body: request.converse,
      client: c.get('client'),
      identity: c.get('identity'),
      frontDoor: 'openai',
      endUser: request.endUser,
      tags: requestTags(c, request.tags),
      session: requestSession(c, request.session),
      signal: c.req.raw.signal,
    },
    policyContext(c),
  )
  return renderOpenAi(outcome, request)
}

interface ModelEntry {
  id: string
  object: 'model'
  created: number
  owned_by: string
}

/** Every pool name and every model ID of a pool the caller may use, as OpenAI lists models. */
function listModels(c: Context<AppEnv>): ModelEntry[] | Response {
  const loaded = configFor(c)
  if (!loaded.ok) return problemResponse(loaded.problem)
  const { config } = loaded.value
  const seen = new Set<string>()
  const models: ModelEntry[] = []
  const add = (id: string, owner: string) => {
    if (seen.has(id)) return
    seen.add(id)
    models.push({ id, object: 'model', created: 0, owned_by: owner })
  }
  const pools = Object.values(config.pools).filter((p) => allowsPool(c.get('identity'), p.name))
  for (const pool of pools) add(pool.name, 'bedrock-edge-router')
  for (const pool of pools) for (const d of pool.deployments) add(d.modelId, `bedrock (pool ${pool.name})`)
  return models
}

function problemResponse(problem: RequestProblem): Response {
  const code = problem.status === 404 ? 'model_not_found' : problem.status === 413 ? 'request_too_large' : problem.status === 403 ? 'permission_denied' : null
  const res = openAiError(problem.status, problem.message, { code, param: problem.status === 404 ? 'model' : null })
  return problem.closeConnection ? closingConnection(res) : res
}
