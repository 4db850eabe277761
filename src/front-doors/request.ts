/**
 * What every front door does before its own translation: find the pool a request addresses and read its JSON
 * body within bounds. Problems come back as plain data (`RequestProblem`), which each front door renders in its
 * own protocol's error shape; nothing is sent upstream for them.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../app'
import type { EngineContext } from '../engine/outcome'
import type { PolicyContext } from '../policy/route'
import { loadConfig, resolvePool, type LoadedConfig } from '../config/load'
import { ConfigError } from '../config/schema'
import type { PoolConfig } from '../config/types'
import { allowsPool, describeScope } from '../auth/identity'
import { bodyLimits, MAX_JSON_DEPTH, type BodyLimits } from '../routes/request-body'

export interface RequestProblem {
  /** 400 malformed, 403 a pool the client may not use, 404 no such pool or model, 408 the body came too slowly, 413 too large, 500 the router's config is broken. */
  status: 400 | 403 | 404 | 408 | 413 | 500
  message: string
  /** The body was left unread: the answer must close the connection. */
  closeConnection?: boolean
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: RequestProblem }

/** ROUTER_CONFIG, or the problem (500) that it is invalid. */
export function configFor(c: Context<AppEnv>): Checked<LoadedConfig> {
  try {
    return { ok: true, value: loadConfig(c.env?.ROUTER_CONFIG) }
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, problem: { status: 500, message: `The router is misconfigured: ${e.problems.join('; ')}` } }
    throw e
  }
}

/** The pool for a model ID or pool name, as configured in ROUTER_CONFIG. */
export function poolFor(c: Context<AppEnv>, model: string): Checked<PoolConfig> {
  const loaded = configFor(c)
  if (!loaded.ok) return loaded
  const pool = resolvePool(loaded.value, model)
  if (!pool) return { ok: false, problem: { status: 404, message: `Model ${JSON.stringify(model)} is not served by this router: use a pool name or a model ID of a configured pool.` } }
  const identity = c.get('identity')
  if (!allowsPool(identity, pool.name)) {
    return { ok: false, problem: { status: 403, message: `This ${identity.kind === 'token' ? 'token' : 'key'} may not use pool ${pool.name} (allowed: ${describeScope(identity.scope)}).` } }
  }
  return { ok: true, value: pool }
}

/** This request's body as a JSON object, within the limits the environment sets (see readJsonObject). */
export function readRequestJson(c: Context<AppEnv>): ReturnType<typeof readJsonObject> {
  return readJsonObject(c.req.raw, bodyLimits(c.env))
}

/**
 * The request body as a JSON object, with its text (forwarded verbatim where nothing changes). Read within the
 * size and time limits (413 as soon as it grows past the size, 408 when it stalls) — a small body of declared length
 * in one step, a larger or chunked one decoded as it arrives so its bytes are not held beside the text — and refused
 * (400) when it nests deeper than MAX_JSON_DEPTH.
 */
export async function readJsonObject(req: Request, limits: BodyLimits): Promise<Checked<{ body: Record<string, unknown>; text: string }>> {
  const tooLarge: Checked<never> = { ok: false, problem: { status: 413, message: `Request body is larger than ${limits.maxBytes} bytes.`, closeConnection: true } }
  // Too large: the rest of the body stays unread, so this connection cannot carry another request.
  if (Number(req.headers.get('content-length') ?? 0) > limits.maxBytes) return tooLarge
  const read = await readBounded(req, limits)
  if (read === 'too large') return tooLarge
  if (read === 'too slow') return { ok: false, problem: { status: 408, message: `Request body did not arrive within ${limits.timeoutMs} ms.`, closeConnection: true } }
  if (read === 'broken') return { ok: false, problem: { status: 400, message: 'Request body could not be read: the upload broke off.', closeConnection: true } }
  const text = read
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (e) {
    return { ok: false, problem: { status: 400, message: `Malformed input request: the body is not valid JSON (${(e as Error).message}).` } }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, problem: { status: 400, message: 'Malformed input request: the body must be a JSON object.' } }
  }
  if (nestedDeeperThan(body, MAX_JSON_DEPTH)) {
    return { ok: false, problem: { status: 400, message: `Malformed input request: the body nests deeper than ${MAX_JSON_DEPTH} levels.` } }
  }
  return { ok: true, value: { body: body as Record<string, unknown>, text } }
}

/** Whether `value` has objects or arrays nested more than `max` deep (iterative: any depth is safe to check). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length) {
    const [v, depth] = stack.pop()!
    if (typeof v !== 'object' || v === null) continue
    if (depth > max) return true
    if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1])
    else for (const k in v) stack.push([(v as Record<string, unknown>)[k], depth + 1])
  }
  return false
}

/**
 * The body as text, decoded chunk by chunk (so the bytes are dropped as they are read); 'too large' as soon as it
 * grows past the limit (chunked uploads have no length), 'too slow' when it has not ended within the time limit.
 */
async function readBounded(req: Request, limits: BodyLimits): Promise<string | 'too large' | 'too slow' | 'broken'> {
  if (!req.body) return ''
  const length = Number(req.headers.get('content-length') ?? Number.NaN)
  if (length <= SMALL_BODY_BYTES) return readSmall(req, limits)
  const reader = req.body.getReader()
  const decoder = new TextDecoder()
  const parts: string[] = []
  let total = 0
  let slow = false
  const timer = setTimeout(() => {
    slow = true
    void reader.cancel('request body too slow').catch(() => {})
  }, limits.timeoutMs)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (slow) return 'too slow'
      if (done) break
      total += value.byteLength
      if (total > limits.maxBytes) {
        await reader.cancel().catch(() => {})
        return 'too large'
      }
      parts.push(decoder.decode(value, { stream: true }))
    }
  } catch {
    return slow ? 'too slow' : 'broken'
  } finally {
    clearTimeout(timer)
  }
  parts.push(decoder.decode())
  return parts.length === 1 ? parts[0] : parts.join('')
}

/** Bodies of a declared length up to this are read in one step by the runtime (HTTP framing caps them at it). */
const SMALL_BODY_BYTES = 1 << 20

/**
 * A small body of known length: the runtime reads and decodes it at once — no reader loop, no chunk-by-chunk
 * decoding, which were a measurable share of a typical request's CPU. The deadline still holds.
 */
async function readSmall(req: Request, limits: BodyLimits): Promise<string | 'too slow' | 'broken'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const slow = new Promise<'too slow'>((resolve) => {
    timer = setTimeout(() => resolve('too slow'), limits.timeoutMs)
  })
  try {
    return await Promise.race([req.text(), slow])
  } catch {
    return 'broken'
  } finally {
    clearTimeout(timer)
  }
}

/** What the engine needs from this request's runtime: env, state, waitUntil and the isolate's accounting. */
export function engineContext(c: Context<AppEnv>): EngineContext {
  return { env: c.env ?? {}, store: c.get('store'), waitUntil: waitUntilOf(c), stats: c.get('stats'), traceparent: c.req.header('traceparent') }
}

/** The engine's context plus what the policies read: the config, the request's headers, in-process custom strategies. */
export function policyContext(c: Context<AppEnv>): PolicyContext {
  return { ...engineContext(c), config: loadConfig((c.env ?? {}).ROUTER_CONFIG).config, header: (name) => c.req.header(name), strategies: c.get('strategies'), responseCache: c.get('responseCache') }
}

/**
 * The request's accounting tags: those its body carries (Bedrock `requestMetadata`, OpenAI `metadata`), plus any in
 * an `x-router-tags: team=search, feature=chat` header (the header wins on the same key).
 */
export function requestTags(c: Context<AppEnv>, fromBody: Record<string, string> | undefined): Record<string, string> | undefined {
  const header = c.req.header('x-router-tags')
  if (!header) return fromBody
  const tags: Record<string, string> = { ...fromBody }
  for (const part of header.split(',')) {
    const [k, ...v] = part.split('=')
    const key = k.trim()
    if (key) tags[key] = v.join('=').trim()
  }
  return tags
}

/**
 * The conversation the client names for prompt-cache affinity: an `x-router-session` header (any front door), else
 * what the body says (OpenAI `prompt_cache_key`). Only its hash is kept.
 */
export function requestSession(c: Context<AppEnv>, fromBody?: string): string | undefined {
  return c.req.header('x-router-session')?.trim() || fromBody || undefined
}

/** The runtime's waitUntil, or (outside a Worker, e.g. in tests) a promise left to finish on its own. */
export function waitUntilOf(c: Context<AppEnv>): (p: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx
    return (p) => ctx.waitUntil(p)
  } catch {
    return (p) => void p.catch(() => {})
  }
}
