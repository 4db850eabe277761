/**
 * The AWS SDK's shapes on the router's wire: what `ConverseCommandInput` holds as `Uint8Array` (image, document and
 * video bytes, redacted reasoning) travels as base64 in Bedrock's JSON and comes back as bytes; Bedrock's error answers
 * become errors named as the SDK names them (`ThrottlingException`, …) with `$metadata` and the router's trace.
 */
import { base64ToBytes, bytesToBase64 } from '../wire/base64'

/** Fields the SDK types as blobs (base64 in JSON). */
const BLOB_FIELDS = new Set(['bytes', 'redactedContent'])

/** A deep copy with every Uint8Array as base64 (what the SDK serialises). */
export function toWire(value: unknown): unknown {
  if (value instanceof Uint8Array) return bytesToBase64(value)
  if (Array.isArray(value)) return value.map(toWire)
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v)
    return out
  }
  return value
}

/** Bedrock's JSON with blob fields back as Uint8Array (what the SDK deserialises). */
export function fromWire(value: unknown, key?: string): unknown {
  if (typeof value === 'string' && key !== undefined && BLOB_FIELDS.has(key)) return base64ToBytes(value)
  if (Array.isArray(value)) return value.map((v) => fromWire(v))
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = fromWire(v, k)
    return out
  }
  return value
}

/** Who served a request and why: the x-router-* headers as an object. */
export interface RouterTrace {
  pool?: string
  deployment?: string
  region?: string
  model?: string
  reason?: string
  attempts: number
  /** Why each earlier attempt was abandoned (`use1=throttled:ThrottlingException`). */
  failovers?: string
  invokedModel?: string
  costUsd?: number
  overheadMs?: number
}

export function traceOf(res: Response): RouterTrace {
  const h = (name: string) => res.headers.get(`x-router-${name}`) ?? undefined
  const num = (name: string) => (h(name) === undefined ? undefined : Number(h(name)))
  return {
    pool: h('pool'),
    deployment: h('deployment'),
    region: h('region'),
    model: h('model'),
    reason: h('reason'),
    attempts: num('attempts') ?? 0,
    failovers: h('failovers'),
    invokedModel: h('invoked-model'),
    costUsd: num('cost-usd'),
    overheadMs: num('overhead-ms'),
  }
}

export interface ResponseMetadata {
  httpStatusCode: number
  requestId?: string
  attempts: number
  totalRetryDelay: 0
}

export function metadataOf(res: Response, trace: RouterTrace): ResponseMetadata {
  return { httpStatusCode: res.status, requestId: res.headers.get('x-amzn-requestid') ?? undefined, attempts: Math.max(1, trace.attempts), totalRetryDelay: 0 }
}

/** An error as the AWS SDK throws it: `name` the Bedrock error, `$fault`, `$metadata`; plus the router's trace. */
export class RouterError extends Error {
  readonly $fault: 'client' | 'server'
  readonly $metadata: ResponseMetadata
  /** When to try again (a throttle, an unavailable pool), ms. */
  readonly retryAfterMs?: number
  readonly $router?: RouterTrace

  constructor(name: string, message: string, opts: { status: number; metadata: ResponseMetadata; retryAfterMs?: number; trace?: RouterTrace }) {
    super(message)
    this.name = name
    this.$fault = opts.status >= 500 ? 'server' : 'client'
    this.$metadata = opts.metadata
    this.retryAfterMs = opts.retryAfterMs
    this.$router = opts.trace
  }
}

/** The error a non-2xx Bedrock answer means. */
export async function errorOf(res: Response): Promise<RouterError> {
  const trace = traceOf(res)
  const text = await res.text()
  let message = text
  try {
    const body = JSON.parse(text) as { message?: string; Message?: string }
    message = body.message ?? body.Message ?? text
  } catch {
    // not JSON: the text is the message
  }
  const name = (res.headers.get('x-amzn-errortype') ?? 'InternalServerException').split(':')[0]
  const retryAfter = Number(res.headers.get('retry-after'))
  return new RouterError(name, message, { status: res.status, metadata: metadataOf(res, trace), trace, retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined })
}

/** `throttlingException` (a stream's exception type) → `ThrottlingException` (the SDK's error name). */
export function exceptionName(type: string): string {
  return type.charAt(0).toUpperCase() + type.slice(1)
}
