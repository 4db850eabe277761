/**
 * Request bodies and the client's connection. An answer given before the body is read (401 bad key, 404
 * unknown model or route, 503 not configured) would leave the rest of the body unread on the connection, and
 * the runtime then drops the connection after the answer without `Connection: close` (workerd strips that
 * header from a worker's response anyway). A keep-alive client — the AWS SDK's Node agent — sends its next
 * request on that dead socket and fails with "socket hang up". So after every answer the unread rest of the
 * body is read and discarded, within the size the router accepts and a time limit; past either, the
 * connection cannot be kept, and the answer says `Connection: close` where the runtime passes it on.
 */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'

/**
 * The default body limit: room for a Converse request with a few images or documents (Bedrock's own limits are
 * megabytes per item), far below a Worker's 128 MB — a request holds about twice its body while it is read and
 * parsed, so a handful of concurrent maximal bodies still fit. ROUTER_MAX_BODY_BYTES changes it.
 */
export const MAX_BODY_BYTES = 10 * 1024 * 1024
const MAX_CONFIGURABLE_BYTES = 100 * 1024 * 1024
/** How long a body may take to arrive (ROUTER_BODY_TIMEOUT_MS): a client whose Content-Length promises more than it sends. */
const BODY_TIMEOUT_MS = 30_000
/** How long an early answer waits for the rest of the body (a slow client's upload) before giving up. */
const DRAIN_MS = 10_000
/** JSON nested deeper than this is refused before any work that walks it (recursion in translation, canonical keys). */
export const MAX_JSON_DEPTH = 128

export interface BodyLimits {
  maxBytes: number
  timeoutMs: number
}

/** The body limits in force: ROUTER_MAX_BODY_BYTES and ROUTER_BODY_TIMEOUT_MS, else the defaults. */
export function bodyLimits(env: { ROUTER_MAX_BODY_BYTES?: unknown; ROUTER_BODY_TIMEOUT_MS?: unknown } | undefined): BodyLimits {
  const bytes = Number(env?.ROUTER_MAX_BODY_BYTES)
  const ms = Number(env?.ROUTER_BODY_TIMEOUT_MS)
  return {
    maxBytes: Number.isInteger(bytes) && bytes > 0 ? Math.min(bytes, MAX_CONFIGURABLE_BYTES) : MAX_BODY_BYTES,
    timeoutMs: Number.isFinite(ms) && ms > 0 ? ms : BODY_TIMEOUT_MS,
  }
}

export const drainUnreadBody = createMiddleware<AppEnv>(async (c, next) => {
  await next()
  const req = c.req.raw
  if (!req.body || req.bodyUsed) return
  const { maxBytes } = bodyLimits(c.env)
  const length = Number(req.headers.get('content-length') ?? 0)
  const kept = length <= maxBytes && (await discard(req.body, maxBytes, DRAIN_MS))
  if (!kept) {
    if (!req.bodyUsed) await req.body.cancel().catch(() => {})
    c.header('connection', 'close')
  }
})

/** The answer to a body the router stopped reading: the connection cannot be reused. */
export function closingConnection(res: Response): Response {
  res.headers.set('connection', 'close')
  return res
}

/** Reads and drops the rest of `body`; false when it is longer than `maxBytes` or slower than `ms`. */
export async function discard(body: ReadableStream<Uint8Array>, maxBytes: number, ms: number): Promise<boolean> {
  const reader = body.getReader()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    void reader.cancel('request body too slow').catch(() => {})
  }, ms)
  let total = 0
  try {
    // Ends at the body's end, past maxBytes, or when the timer cancels the reader (a cancelled read is done).
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return !timedOut
      total += value.byteLength
      if (total > maxBytes) {
        await reader.cancel('request body too large').catch(() => {})
        return false
      }
    }
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
