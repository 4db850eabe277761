/**
 * Upstream outcome classification (docs/bedrock-wire.md §3, §2.7): what failed, whether to fail over, whether it counts
 * against the deployment.
 *
 * | class         | errors                                                                 | fail over | breaker       |
 * |---------------|------------------------------------------------------------------------|-----------|---------------|
 * | throttled     | ThrottlingException, any other 429, ServiceQuotaExceededException      | at once   | no (capacity) |
 * | unavailable   | ModelNotReadyException, 500/502/503/504, InternalServer(Exception),    | yes       | yes           |
 * |               | ServiceUnavailable(Exception), ModelStreamError, ModelError (424)      |           |               |
 * | timeout       | ModelTimeoutException (408), our own attempt/first-byte timeouts       | yes       | yes           |
 * | network       | connection refused/reset, malformed or truncated stream                | yes       | yes           |
 * | misconfigured | AccessDenied, ResourceNotFound, UnrecognizedClient, InvalidSignature,  | yes; out  | no (own       |
 * |               | bad/expired credentials, invalid model identifier — by Bedrock's name  | until a   | probed        |
 * |               | only (a bare 401/403/404 without one is `unavailable`)                 | probe ok  | cooldown)     |
 * | client        | ValidationException and other 4xx                                      | no        | never         |
 *
 * A 200 whose body is not a Converse answer (not JSON, truncated, no `output`) is `network` (see engine/attempt.ts).
 *
 * Judgement calls:
 * - ModelNotReadyException is a 429 but not a throttle: the model is not loaded in that Region (SDKs retry it as
 *   transient, not as throttling); another deployment can serve, and repeated occurrences should open the breaker.
 * - ModelStreamErrorException / ModelErrorException (424) are the model server failing while processing; another
 *   deployment (another Region or model) usually succeeds, and before the first byte reached the client failing over is
 *   free. If the request itself provokes it, attempts are still bounded by maxAttempts and the deadline.
 * - ModelTimeoutException (408) means the deployment could not finish in time (usually overload); the same is true of
 *   our own time-to-first-byte timeout: both are timeouts, fail over and count.
 * - A ValidationException whose message says the model identifier is invalid or that on-demand throughput is not
 *   supported is the deployment's configuration, not the request: misconfigured.
 */
import type { UpstreamResult } from './types'

const THROTTLING = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'LimitExceededException',
  'ServiceQuotaExceededException',
  'RequestLimitExceeded',
  'Throttling',
  'ThrottledException',
])
const UNAVAILABLE = new Set([
  'ModelNotReadyException',
  'InternalServerException',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailableException',
  'ServiceUnavailable',
  'ModelStreamErrorException',
  'ModelErrorException',
])
const TIMEOUT = new Set(['ModelTimeoutException', 'RequestTimeout', 'RequestTimeoutException'])
const MISCONFIGURED = new Set([
  'AccessDeniedException',
  'ResourceNotFoundException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ExpiredToken',
  'RequestExpired',
  'MissingAuthenticationToken',
  'FTUFormNotFilled',
  'UnknownOperationException',
  'NotAuthorized',
])
const MISCONFIGURED_VALIDATION = /model identifier is invalid|on-demand throughput isn.?t supported/i

/** Bedrock error name from `X-Amzn-ErrorType`, body `__type` or `code`: text before the first `:`, after the last `#`. */
export function sanitizeErrorType(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined
  let name = raw
  const colon = name.indexOf(':')
  if (colon >= 0) name = name.slice(0, colon)
  const hash = name.lastIndexOf('#')
  if (hash >= 0) name = name.slice(hash + 1)
  name = name.trim()
  // Bedrock's error names are letters and digits: anything else (a proxy's text, an injection attempt) is no name.
  return /^[A-Za-z][A-Za-z0-9]{0,99}$/.test(name) ? name : undefined
}

/** `Retry-After` as ms: delta-seconds, or an HTTP date when `now` is given. */
export function parseRetryAfter(header: string | null | undefined, now?: number): number | undefined {
  if (!header) return undefined
  const text = header.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000)
  if (now === undefined) return undefined
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

function result(
  cls: UpstreamResult['class'],
  status: number,
  errorType: string | undefined,
  message: string | undefined,
  retryAfterMs: number | undefined,
): UpstreamResult {
  const r: UpstreamResult = { class: cls, status }
  if (errorType) r.errorType = errorType
  if (message !== undefined) r.message = message
  if (retryAfterMs !== undefined) r.retryAfterMs = retryAfterMs
  return r
}

function classByName(name: string, message: string | undefined): UpstreamResult['class'] | undefined {
  if (THROTTLING.has(name)) return 'throttled'
  if (UNAVAILABLE.has(name)) return 'unavailable'
  if (TIMEOUT.has(name)) return 'timeout'
  if (MISCONFIGURED.has(name)) return 'misconfigured'
  if (name === 'ValidationException') return message && MISCONFIGURED_VALIDATION.test(message) ? 'misconfigured' : 'client'
  return undefined
}

function classByStatus(status: number): UpstreamResult['class'] {
  if (status >= 200 && status < 300) return 'success'
  if (status === 429) return 'throttled'
  // Without Bedrock's error name a 401/403/404 may come from anything on the way (a proxy, a wrong endpoint):
  // a failure of this attempt, which the breaker judges, not a verdict on the deployment's setup.
  if (status === 401 || status === 403 || status === 404) return 'unavailable'
  if (status === 408) return 'timeout'
  if (status >= 400 && status < 500) return 'client'
  return 'unavailable' // 5xx, and anything unexpected from upstream
}

/**
 * Classifies an HTTP answer from Bedrock (the error name wins over the status). `errorType` is the `X-Amzn-ErrorType` header (or body `__type`/`code`),
 * sanitized here; `retryAfterMs` the `Retry-After` header as read by the upstream client (`parseRetryAfter`).
 */
export function classifyHttp(status: number, errorType?: string | null, message?: string, retryAfterMs?: number): UpstreamResult {
  const name = sanitizeErrorType(errorType)
  const byName = name ? classByName(name, message) : undefined
  // An error type on a 2xx is an error all the same (Bedrock answers some with HTTP 200, docs/bedrock-wire.md §3.2).
  const cls = byName ?? (name && status < 300 ? 'unavailable' : classByStatus(status))
  return result(cls, status, name, message, retryAfterMs)
}

const EXCEPTION_STATUS: Record<string, number> = {
  ThrottlingException: 429,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
  ModelStreamErrorException: 424,
  ValidationException: 400,
  ModelTimeoutException: 408,
}

/** Classifies an in-stream exception frame (`:exception-type`, lowerCamel such as `throttlingException`). */
export function classifyException(exceptionType: string, message?: string): UpstreamResult {
  const raw = sanitizeErrorType(exceptionType) ?? 'internalServerException'
  const name = raw.charAt(0).toUpperCase() + raw.slice(1)
  const status = EXCEPTION_STATUS[name] ?? 500
  const cls = classByName(name, message) ?? 'unavailable'
  return result(cls, status, name, message, undefined)
}

/** Connection refused/reset, DNS failure, malformed or truncated upstream stream. */
export function classifyNetworkError(message?: string): UpstreamResult {
  return result('network', 502, 'InternalServerException', message, undefined)
}

/** No first byte (or no answer) within the attempt's time. */
export function classifyTimeout(message = 'upstream timed out'): UpstreamResult {
  return result('timeout', 504, 'ModelTimeoutException', message, undefined)
}

/** Whether another deployment may be tried after this outcome (never for client errors, nothing to do on success). */
export function failoverAllowed(outcome: UpstreamResult): boolean {
  switch (outcome.class) {
    case 'throttled':
    case 'unavailable':
    case 'timeout':
    case 'network':
    case 'misconfigured':
      return true
    case 'success':
    case 'client':
      return false
  }
}
