/**
 * The one module that talks to Bedrock: builds the upstream URL, signs (SigV4, ./sigv4.ts, or a Bedrock API key as
 * Bearer), sends, and reads error answers. No retries here: the router fails over.
 */
import { signSigV4 } from './sigv4'
import type { DeploymentConfig } from '../config/types'
import type { Credentials } from './credentials'
import { parseRetryAfter, sanitizeErrorType } from '../routing/classify'
import { redactSecrets } from './redact'

/** The Bedrock Runtime operations on a model the router sends: Converse and InvokeModel, each plain or streamed; CountTokens. */
export type Operation = 'converse' | 'converse-stream' | 'invoke' | 'invoke-stream' | 'count-tokens'

const PATHS: Record<Operation, string> = {
  converse: 'converse',
  'converse-stream': 'converse-stream',
  invoke: 'invoke',
  'invoke-stream': 'invoke-with-response-stream',
  'count-tokens': 'count-tokens',
}

/** The operation answers a binary event stream. */
export const isStreaming = (operation: Operation) => operation === 'converse-stream' || operation === 'invoke-stream'
/** The operation takes the model's native body (InvokeModel), not Converse's. */
export const isInvoke = (operation: Operation) => operation === 'invoke' || operation === 'invoke-stream'

/** `{endpoint}/model/{modelId}/{operation path}` with the model ID fully percent-encoded (`:`→%3A, `/`→%2F). */
export function upstreamUrl(deployment: DeploymentConfig, operation: Operation): string {
  return `${deployment.endpoint}/model/${encodeURIComponent(deployment.modelId)}/${PATHS[operation]}`
}

export interface UpstreamRequest {
  deployment: DeploymentConfig
  credentials: Credentials
  operation: Operation
  /** The request body, already serialised (SigV4 signs its hash). */
  body: string
  /** Client headers passed on (InvokeModel's `x-amzn-bedrock-*`, its content type and accept), lower-case names. */
  headers?: Record<string, string>
  signal: AbortSignal
}

/** Signs and sends ApplyGuardrail (`/guardrail/{id}/version/{version}/apply`) to a guardrail's region. */
export async function sendGuardrail(req: { endpoint: string; region: string; credentials: Credentials; id: string; version: string; body: string; signal: AbortSignal }): Promise<Response> {
  const url = `${req.endpoint}/guardrail/${encodeURIComponent(req.id)}/version/${encodeURIComponent(req.version)}/apply`
  return signedPost(url, req.region, req.credentials, { 'content-type': 'application/json', accept: 'application/json' }, req.body, req.signal)
}

async function signedPost(url: string, region: string, credentials: Credentials, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<Response> {
  if (credentials.kind === 'bearer') {
    return fetch(url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${credentials.token}` }, body, signal })
  }
  // Encoded once: signing hashes these bytes and the request sends them (a string would be encoded for the hash
  // and again for the wire — a second copy of a body that may be megabytes).
  const bytes = utf8.encode(body)
  const signedHeaders = await signSigV4({ url, headers, body: bytes, credentials, region, service: 'bedrock' })
  return fetch(url, { method: 'POST', headers: signedHeaders, body: bytes, signal })
}

const utf8 = new TextEncoder()

/** Signs and sends one attempt. Resolves with the upstream response; rejects on network failure or abort. */
export async function sendToBedrock(req: UpstreamRequest): Promise<Response> {
  const url = upstreamUrl(req.deployment, req.operation)
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: isStreaming(req.operation) ? 'application/vnd.amazon.eventstream' : 'application/json',
    ...req.headers,
  }
  return signedPost(url, req.deployment.region, req.credentials, headers, req.body, req.signal)
}

export interface UpstreamError {
  status: number
  /** The error name to relay: what upstream said, else one inferred from the status. */
  errorType: string
  /** The error name upstream itself sent (header or body), if any: only this may classify a deployment as misconfigured. */
  reportedType?: string
  message: string
  retryAfterMs?: number
  /** Upstream request id, when sent. */
  requestId?: string
}

/** Reads a non-2xx answer (or a 200 whose body is an `Output.__type` error) into its Bedrock error name and message. */
export async function readUpstreamError(res: Response, bodyText?: string): Promise<UpstreamError> {
  const text = bodyText ?? (await res.text().catch(() => ''))
  let body: Record<string, unknown> = {}
  try {
    const parsed = JSON.parse(text)
    if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>
  } catch {
    // not JSON: keep the text as the message
  }
  const output = body.Output as Record<string, unknown> | undefined
  const reportedType =
    sanitizeErrorType(res.headers.get('x-amzn-errortype')) ??
    sanitizeErrorType(typeof body.__type === 'string' ? body.__type : undefined) ??
    sanitizeErrorType(typeof body.code === 'string' ? body.code : undefined) ??
    sanitizeErrorType(typeof output?.__type === 'string' ? (output.__type as string) : undefined)
  const errorType = reportedType ?? statusName(res.status)
  // Passed on to the client and the log: redacted of anything credential-shaped, capped (redact.ts).
  const message = redactSecrets(
    (typeof body.message === 'string' && body.message) || (typeof body.Message === 'string' && body.Message) || text.slice(0, 500) || `Upstream answered HTTP ${res.status}`,
  )
  return {
    status: res.ok ? 404 : res.status,
    errorType,
    ...(reportedType ? { reportedType } : {}),
    message,
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()),
    requestId: res.headers.get('x-amzn-requestid') ?? undefined,
  }
}

function statusName(status: number): string {
  if (status === 429) return 'ThrottlingException'
  if (status === 400) return 'ValidationException'
  if (status === 403) return 'AccessDeniedException'
  if (status === 404) return 'ResourceNotFoundException'
  if (status === 503) return 'ServiceUnavailableException'
  if (status >= 500) return 'InternalServerException'
  return 'UnknownError'
}
