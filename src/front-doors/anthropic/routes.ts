/**
 * The Anthropic Messages API front door: POST /v1/messages (plain and streamed) and /v1/messages/count_tokens, for
 * the Anthropic SDKs and Claude Code in gateway mode (`ANTHROPIC_BASE_URL`). The router key comes as `x-api-key`
 * or `Authorization: Bearer`. `model` is a pool name or a model ID of a pool. The request goes to the pool's Claude
 * deployments through InvokeModel(WithResponseStream), body kept lossless (to-invoke.ts); a pool without Claude gets
 * it translated into Converse and back (to-converse.ts, from-converse.ts). Routed by the same engine as every other
 * front door.
 */
import type { Context } from 'hono'
import { Hono } from 'hono/tiny'
import type { AppEnv } from '../../app'
import type { DeploymentConfig, PoolConfig } from '../../config/types'
import { countTokens } from '../../engine/count-tokens'
import { originDeployment } from '../../engine/engine'
import { routeWithPolicies } from '../../policy/route'
import { clientAuth } from '../../routes/auth'
import { utf8ToBase64 } from '../../wire/base64'
import { closingConnection } from '../../routes/request-body'
import { policyContext, poolFor, readRequestJson, requestTags, requestSession, type RequestProblem } from '../request'
import { anthropicError } from './errors'
import { renderAnthropic } from './render'
import { messagesToConverse } from './to-converse'
import { toInvokeBody } from './to-invoke'

export const anthropicRoutes = new Hono<AppEnv>()

const auth = clientAuth((failure) => anthropicError(failure.status, failure.message), { apiKeyHeader: 'x-api-key', frontDoor: 'anthropic' })
anthropicRoutes.use('/v1/messages', auth)
anthropicRoutes.use('/v1/messages/*', auth)
anthropicRoutes.post('/v1/messages', (c) => messages(c, false))
anthropicRoutes.post('/v1/messages/count_tokens', (c) => messages(c, true))

async function messages(c: Context<AppEnv>, counting: boolean): Promise<Response> {
  const read = await readRequestJson(c)
  if (!read.ok) return problemResponse(read.problem)
  const body = read.value.body
  if (typeof body.model !== 'string' || !body.model) return anthropicError(400, 'model: Field required (a pool name or a model ID served by this router)')
  const pool = poolFor(c, body.model)
  if (!pool.ok) return problemResponse(pool.problem)
  const claude = claudeDeployment(pool.value, body.model)
  if (!claude) return viaConverse(c, pool.value, body, counting)
  const translated = toInvokeBody(body, c.req.header('anthropic-beta'), counting)
  if (!translated.ok) return anthropicError(400, translated.message)
  const request = {
    pool: pool.value,
    requestedModel: claude.modelId,
    client: c.get('client'),
    identity: c.get('identity'),
    frontDoor: 'anthropic',
    endUser: translated.endUser,
    tags: requestTags(c, undefined),
    session: requestSession(c),
    signal: c.req.raw.signal,
  }
  const ctx = policyContext(c)
  if (counting) {
    const invokeBody = utf8ToBase64(JSON.stringify(translated.body))
    const outcome = await countTokens({ ...request, body: { input: { invokeModel: { body: invokeBody } } }, family: 'anthropic' }, ctx)
    return renderAnthropic(outcome, { transform: countTokensBody })
  }
  const tierHeader = translated.serviceTier ? { upstreamHeaders: { 'x-amzn-bedrock-service-tier': translated.serviceTier } } : {}
  const outcome = await routeWithPolicies({ ...request, operation: translated.stream ? 'invoke-stream' : 'invoke', body: translated.body, nativeFamily: 'anthropic', ...tierHeader }, ctx)
  return renderAnthropic(outcome)
}

/** Bedrock's CountTokens answer as Anthropic's. */
const countTokensBody = (text: string) => JSON.stringify({ input_tokens: JSON.parse(text).inputTokens })

/** A pool without Claude: the request translated into Converse and the answer back (to-converse.ts, from-converse.ts). */
async function viaConverse(c: Context<AppEnv>, pool: PoolConfig, body: Record<string, unknown>, counting: boolean): Promise<Response> {
  const model = body.model as string
  const origin = originDeployment(pool, model)
  const translated = messagesToConverse(counting ? { max_tokens: 1, ...body } : body, origin.family)
  if (!translated.ok) return anthropicError(400, translated.message)
  const request = { pool, requestedModel: model, client: c.get('client'), identity: c.get('identity'), frontDoor: 'anthropic', endUser: translated.endUser, tags: requestTags(c, undefined), session: requestSession(c), signal: c.req.raw.signal }
  const ctx = policyContext(c)
  if (counting) {
    const { inferenceConfig: _unused, ...converse } = translated.body
    const outcome = await countTokens({ ...request, body: { input: { converse } } }, ctx)
    return renderAnthropic(outcome, { transform: countTokensBody })
  }
  const outcome = await routeWithPolicies({ ...request, operation: translated.stream ? 'converse-stream' : 'converse', body: translated.body }, ctx)
  return renderAnthropic(outcome, { via: 'converse' })
}

/** The Claude deployment the request is written for: the model it names, else the pool's first Claude primary. */
function claudeDeployment(pool: PoolConfig, model: string): DeploymentConfig | undefined {
  const claude = pool.deployments.filter((d) => d.family === 'anthropic')
  return claude.find((d) => d.modelId === model) ?? claude.find((d) => !d.fallback) ?? claude[0]
}

function problemResponse(problem: RequestProblem): Response {
  const res = anthropicError(problem.status, problem.message)
  return problem.closeConnection ? closingConnection(res) : res
}
