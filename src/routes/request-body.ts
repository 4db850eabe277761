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

/** Bedrock's own request size limits are far below this; it only guards the isolate's memory. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024
/** How long an early answer waits for the rest of the body (a slow client's upload) before giving up. */
const DRAIN_MS = 10_000

export const drainUnreadBody = createMiddleware<AppEnv>(async (c, next) => {
  await next()
  const req = c.req.raw
  if (!req.body || req.bodyUsed) return
  const length = Number(req.headers.get('content-length') ?? 0)
  const kept = length <= MAX_BODY_BYTES && (await discard(req.body, MAX_BODY_BYTES, DRAIN_MS))
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
