/**
 * One upstream attempt against one deployment: send, and decide whether it succeeded early enough to commit
 * to the client. A Converse attempt is complete when its body has arrived. A ConverseStream attempt commits
 * at its first content frame: until then (HTTP error, exception frame, truncated or stalled stream, first-byte
 * timeout) it can still fail over, because nothing has gone to the client.
 */
import { isStreaming, readUpstreamError, sendToBedrock, type Operation } from '../upstream/bedrock'
import type { Credentials } from '../upstream/credentials'
import type { DeploymentConfig } from '../config/types'
import { classifyException, classifyHttp, classifyNetworkError, classifyTimeout, sanitizeErrorType } from '../routing/classify'
import { holdsSecrets, redactSecrets } from '../upstream/redact'
import { jsonObject } from '../wire/base64'
import type { TokenUsage, UpstreamResult } from '../routing/types'
import { EventStreamError, EventStreamFramer, type Frame } from '../wire/eventstream'
import { frameJson, invokeChunkEvent } from '../wire/invoke-chunk'

export interface AttemptInput {
  deployment: DeploymentConfig
  credentials: Credentials
  operation: Operation
  body: string
  /** Client headers passed upstream (InvokeModel). */
  headers?: Record<string, string>
  /** Time allowed until the answer (Converse) or the first content frame (streams), ms. */
  timeoutMs: number
  /** Client went away: abort upstream too. */
  clientSignal?: AbortSignal
}

/** A failed attempt, with what to relay to the client if it cannot fail over. */
export interface AttemptFailure {
  ok: false
  result: UpstreamResult
  /** Upstream's own error answer, relayed verbatim when the router fails fast. */
  relay?: { status: number; errorType: string; body: string; requestId?: string }
  latencyMs: number
}

export interface ConverseSuccess {
  ok: true
  kind: 'converse'
  body: string
  /** InvokeModel: upstream's content type and its `x-amzn-bedrock-*` headers, relayed to the client. */
  contentType?: string
  bedrockHeaders?: Record<string, string>
  requestId?: string
  usage?: TokenUsage
  /** Converse: why the model stopped (`guardrail_intervened` is counted). */
  stopReason?: string
  invokedModelId?: string
  latencyMs: number
}

export interface StreamStart {
  ok: true
  kind: 'stream'
  /** Frames received before committing (messageStart and the first content frame). */
  frames: Frame[]
  framer: EventStreamFramer
  reader: ReadableStreamDefaultReader<Uint8Array>
  abort: AbortController
  requestId?: string
  /** Time to the first content frame, ms. */
  latencyMs: number
}

export type AttemptResult = AttemptFailure | ConverseSuccess | StreamStart

export async function attempt(input: AttemptInput): Promise<AttemptResult> {
  const started = Date.now()
  const abort = new AbortController()
  const onClientAbort = () => abort.abort(new DOMException('client went away', 'AbortError'))
  if (input.clientSignal?.aborted) return failedBeforeStart(started)
  input.clientSignal?.addEventListener('abort', onClientAbort, { once: true })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    abort.abort(new DOMException('attempt timed out', 'TimeoutError'))
  }, Math.max(1, input.timeoutMs))
  // A failure caused by the client going away says nothing about the deployment.
  const failed = (result: UpstreamResult, relay?: AttemptFailure['relay']): AttemptFailure => ({
    ok: false,
    result: input.clientSignal?.aborted && !timedOut ? CLIENT_GONE : result,
    relay,
    latencyMs: Date.now() - started,
  })
  try {
    let res: Response
    try {
      res = await sendToBedrock({ ...input, signal: abort.signal })
    } catch (e) {
      return failed(timedOut ? classifyTimeout() : classifyNetworkError(errorText(e)))
    }
    if (!isStreaming(input.operation)) {
      let text: string
      try {
        text = await res.text()
      } catch (e) {
        return failed(timedOut ? classifyTimeout() : classifyNetworkError(errorText(e)))
      }
      return input.operation === 'converse' ? converseOutcome(res, text, started) : invokeOutcome(res, text, started)
    }
    // A stream operation answered with JSON (an error, even with HTTP 200: docs/bedrock-wire.md §3.2) has no frames.
    if (!res.ok || !res.body || (res.headers.get('content-type') ?? '').includes('json')) {
      const text = await res.text().catch(() => '')
      const err = await readUpstreamError(res, text)
      return failed(classifyHttp(err.status, err.reportedType, err.message, err.retryAfterMs), {
        status: err.status,
        errorType: err.errorType,
        body: relayBody(text, err.message),
        requestId: err.requestId,
      })
    }
    const reader = res.body.getReader()
    const framer = new EventStreamFramer()
    const frames: Frame[] = []
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) {
          framer.end()
          return failed(classifyNetworkError('upstream stream ended before any content'))
        }
        for (const frame of framer.push(value)) {
          if (frame.messageType !== 'event') {
            reader.cancel().catch(() => {})
            return failed(frameFailure(frame))
          }
          frames.push(frame)
        }
        if (frames.some(isContent)) break
      }
    } catch (e) {
      reader.cancel().catch(() => {})
      if (timedOut) return failed(classifyTimeout())
      if (e instanceof EventStreamError) return failed(classifyNetworkError(`malformed upstream stream: ${e.message}`))
      return failed(classifyNetworkError(errorText(e)))
    }
    clearTimeout(timer)
    return {
      ok: true,
      kind: 'stream',
      frames,
      framer,
      reader,
      abort,
      requestId: res.headers.get('x-amzn-requestid') ?? undefined,
      latencyMs: Date.now() - started,
    }
  } finally {
    clearTimeout(timer)
    input.clientSignal?.removeEventListener('abort', onClientAbort)
  }
}

/** The outcome of an attempt the client abandoned: neutral for the deployment, releases its reservation. */
export const CLIENT_GONE: UpstreamResult = { class: 'client', status: 499, errorType: 'RequestCancelled', message: 'the client went away' }

function failedBeforeStart(started: number): AttemptFailure {
  return { ok: false, result: CLIENT_GONE, latencyMs: Date.now() - started }
}

async function converseOutcome(res: Response, text: string, started: number): Promise<AttemptResult> {
  const latencyMs = Date.now() - started
  let json: Record<string, any> | undefined
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  // A 200 that is not a Converse answer (not JSON, cut short, no `output`) is this attempt failing, not the request
  // or the deployment's setup: fail over like a broken connection. But Bedrock answers some routing errors with HTTP
  // 200 and {"Output":{"__type":…}} (docs/bedrock-wire.md §3.2): those are errors by name.
  if (res.ok && !(json && typeof json === 'object' && !Array.isArray(json) && (json.Output?.__type || json.output))) {
    return {
      ok: false,
      result: classifyNetworkError(`upstream answered HTTP 200 with a body that is not a Converse response (${text.length} bytes${json === undefined ? ', not valid JSON' : ''})`),
      latencyMs,
    }
  }
  if (!res.ok || json!.Output?.__type) {
    const err = await readUpstreamError(res, text)
    const result = classifyHttp(err.status, err.reportedType, err.message, err.retryAfterMs)
    return {
      ok: false,
      result,
      relay: { status: err.status, errorType: err.errorType, body: res.ok ? JSON.stringify({ message: err.message }) : relayBody(text, err.message), requestId: err.requestId },
      latencyMs,
    }
  }
  return {
    ok: true,
    kind: 'converse',
    body: text,
    requestId: res.headers.get('x-amzn-requestid') ?? undefined,
    usage: usageOf(json!.usage),
    invokedModelId: json!.trace?.promptRouter?.invokedModelId,
    stopReason: typeof json!.stopReason === 'string' ? json!.stopReason : undefined,
    latencyMs,
  }
}

/** An InvokeModel (or CountTokens) answer: any 2xx is the body to relay; InvokeModel's usage is in Bedrock's headers. */
async function invokeOutcome(res: Response, text: string, started: number): Promise<AttemptResult> {
  const latencyMs = Date.now() - started
  if (!res.ok) {
    const err = await readUpstreamError(res, text)
    return {
      ok: false,
      result: classifyHttp(err.status, err.reportedType, err.message, err.retryAfterMs),
      relay: { status: err.status, errorType: err.errorType, body: relayBody(text, err.message), requestId: err.requestId },
      latencyMs,
    }
  }
  // A model's native answer is JSON: a 200 with anything else (a proxy's page, a body cut short) is a broken
  // upstream, failed over like one — never relayed as a 200.
  if (!isJson(text)) {
    return { ok: false, result: classifyNetworkError(`upstream answered HTTP ${res.status} with a body that is not JSON (${text.length} bytes)`), latencyMs }
  }
  const bedrockHeaders: Record<string, string> = {}
  res.headers.forEach((value, name) => {
    if (name.startsWith('x-amzn-bedrock-')) bedrockHeaders[name] = value
  })
  const input = Number(res.headers.get('x-amzn-bedrock-input-token-count'))
  const output = Number(res.headers.get('x-amzn-bedrock-output-token-count'))
  const cacheRead = Number(res.headers.get('x-amzn-bedrock-cache-read-input-token-count'))
  const cacheWrite = Number(res.headers.get('x-amzn-bedrock-cache-write-input-token-count'))
  return {
    ok: true,
    kind: 'converse',
    body: text,
    contentType: res.headers.get('content-type') ?? 'application/json',
    bedrockHeaders,
    requestId: res.headers.get('x-amzn-requestid') ?? undefined,
    usage: Number.isFinite(input) && Number.isFinite(output) && res.headers.has('x-amzn-bedrock-input-token-count')
      ? { inputTokens: input, outputTokens: output, cacheReadInputTokens: cacheRead || undefined, cacheWriteInputTokens: cacheWrite || undefined }
      : undefined,
    latencyMs,
  }
}

/**
 * Whether a frame is the answer's content, where a stream commits: anything but the opening event — Converse's
 * `messageStart`, or an InvokeModel `chunk` holding the model's own opening event (Anthropic's `message_start`,
 * Nova's `messageStart`).
 */
function isContent(frame: Frame): boolean {
  if (frame.eventType === 'messageStart') return false
  if (frame.eventType !== 'chunk') return true
  const event = invokeChunkEvent(frame)
  return !(event && (event.type === 'message_start' || 'messageStart' in event))
}

/** An exception or error frame received where content was expected (its message redacted: redact.ts). */
export function frameFailure(frame: Frame): UpstreamResult {
  if (frame.messageType === 'exception') {
    return classifyException(frame.exceptionType ?? 'internalServerException', payloadMessage(frame))
  }
  return classifyException(frame.errorCode ?? 'internalServerException', redactSecrets(frame.errorMessage ?? 'upstream error frame'))
}

export function payloadMessage(frame: Frame): string {
  const message = frameJson(frame)?.message
  return typeof message === 'string' ? redactSecrets(message) : 'upstream exception'
}

/**
 * An upstream failure frame may be passed on byte for byte only when it carries nothing redaction would change and
 * names its error in Bedrock's alphabet; otherwise the router writes its own frame from the redacted message.
 */
export function relayableFrame(frame: Frame): boolean {
  const name = frame.messageType === 'exception' ? frame.exceptionType : frame.errorCode
  if (!name || sanitizeErrorType(name) !== name) return false
  const message = frame.messageType === 'exception' ? frameJson(frame)?.message : frame.errorMessage
  return typeof message !== 'string' || !holdsSecrets(message)
}

/** The body of an upstream error to relay: upstream's own when it is a clean JSON object, else `{message}` redacted. */
function relayBody(text: string, message: string): string {
  return !holdsSecrets(text) && jsonObject(text) !== undefined ? text : JSON.stringify({ message })
}

export function usageOf(raw: unknown): TokenUsage | undefined {
  if (!raw || typeof raw !== 'object') return undefined
  const u = raw as Record<string, unknown>
  if (typeof u.inputTokens !== 'number' || typeof u.outputTokens !== 'number') return undefined
  return {
    inputTokens: u.inputTokens,
    outputTokens: u.outputTokens,
    cacheReadInputTokens: typeof u.cacheReadInputTokens === 'number' ? u.cacheReadInputTokens : undefined,
    cacheWriteInputTokens: typeof u.cacheWriteInputTokens === 'number' ? u.cacheWriteInputTokens : undefined,
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
