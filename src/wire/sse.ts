/**
 * Server-sent events re-encoding of Bedrock event-stream frames, for browsers.
 *
 *   event frame      → `event: <:event-type>\ndata: <payload bytes, verbatim>\n\n`
 *   exception/error  → `event: error\ndata: {"type":"<exception type | error code>","message":"…",…}\n\n`
 *
 * Event payloads are copied byte for byte (no JSON round trip), so Bedrock's `p` length-padding field is kept:
 * it hides token lengths from an observer of encrypted traffic. A payload containing CR/LF (JSON whitespace)
 * is split into several `data:` lines; an SSE client joins them with "\n", which is the same JSON.
 */
import { EventStreamError, type Frame } from './eventstream'
import { jsonObject } from './base64'
import { invokeChunkText } from './invoke-chunk'

export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const DATA = encoder.encode('data: ')
const CR = 13
const LF = 10

/** `event: <type>\ndata: ` per event type (bounded; Bedrock has a handful of event types). */
const prefixes = new Map<string, Uint8Array>()

function eventPrefix(eventType: string | undefined): Uint8Array {
  let prefix = prefixes.get(eventType as string)
  if (prefix === undefined) {
    if (!eventType || /[\r\n]/.test(eventType))
      throw new EventStreamError('bad-headers', `event type ${JSON.stringify(eventType)} cannot be an SSE event name`)
    prefix = encoder.encode(`event: ${eventType}\ndata: `)
    if (prefixes.size < 64) prefixes.set(eventType, prefix)
  }
  return prefix
}

/** SSE bytes for one frame: an event for `:message-type event`, otherwise an `error` event. */
export function sseFromFrame(frame: Frame): Uint8Array {
  if (frame.messageType !== 'event') return sseErrorFromFrame(frame)
  const prefix = eventPrefix(frame.eventType)
  const payload = frame.payload
  if (payload.indexOf(LF) !== -1 || payload.indexOf(CR) !== -1) return multiLine(prefix, payload)
  const n = prefix.length + payload.length + 2
  const out = new Uint8Array(n)
  out.set(prefix)
  out.set(payload, prefix.length)
  out[n - 2] = LF
  out[n - 1] = LF
  return out
}

/** One `data:` line per CR, LF or CRLF-separated line of the payload. */
function multiLine(prefix: Uint8Array, payload: Uint8Array): Uint8Array {
  const lines: Uint8Array[] = []
  let start = 0
  for (let i = 0; i < payload.length; i++) {
    const c = payload[i]
    if (c !== CR && c !== LF) continue
    lines.push(payload.subarray(start, i))
    if (c === CR && payload[i + 1] === LF) i++
    start = i + 1
  }
  lines.push(payload.subarray(start))
  let n = prefix.length + 1 // + final blank line
  for (let k = 0; k < lines.length; k++) n += (k === 0 ? 0 : DATA.length) + lines[k].length + 1
  const out = new Uint8Array(n)
  out.set(prefix)
  let p = prefix.length
  for (let k = 0; k < lines.length; k++) {
    if (k > 0) {
      out.set(DATA, p)
      p += DATA.length
    }
    out.set(lines[k], p)
    p += lines[k].length
    out[p++] = LF
  }
  out[p] = LF
  return out
}

/** `event: error` for an exception frame, an error frame, or a frame of unknown message type. */
function sseErrorFromFrame(frame: Frame): Uint8Array {
  if (frame.messageType === 'error') return sseError(frame.errorCode ?? 'unknownError', frame.errorMessage ?? '')
  if (frame.messageType !== 'exception') return sseError('unknownMessageType', `unexpected :message-type "${frame.messageType}"`)
  const text = decoder.decode(frame.payload)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const type = frame.exceptionType ?? 'unknownException'
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return sseError(type, text)
  const fields = body as Record<string, unknown>
  const message = typeof fields.message === 'string' ? fields.message : typeof fields.Message === 'string' ? fields.Message : ''
  return sseError(type, message, fields)
}

/**
 * `event: error\ndata: {"type":…,"message":…,…extra}\n\n`, for errors of the upstream or of the router itself
 * (e.g. `sseError('truncatedStream', 'upstream ended mid-frame')`). `type`/`message` in `extra` are ignored.
 */
export function sseError(type: string, message: string, extra?: Record<string, unknown>): Uint8Array {
  const body: Record<string, unknown> = Object.create(null)
  body.type = type
  body.message = message
  if (extra) for (const k of Object.keys(extra)) if (k !== 'type' && k !== 'message' && k !== 'Message') body[k] = extra[k]
  // JSON.stringify escapes CR and LF, so the data is one line.
  return encoder.encode(`event: error\ndata: ${JSON.stringify(body)}\n\n`)
}

const commentEncoder = new TextEncoder()

/**
 * A stream's usage and cost as an SSE comment (`: x-router-accounting {"usage":…,"costUsd":…}`): every SSE client
 * skips comments, so it is safe on any SSE stream, and a tool reading the raw stream finds what a header would say.
 */
export function sseAccounting(accounting: { usage?: unknown; costUsd?: number }): Uint8Array | undefined {
  if (!accounting.usage && accounting.costUsd === undefined) return undefined
  return commentEncoder.encode(`: x-router-accounting ${JSON.stringify({ usage: accounting.usage, costUsd: accounting.costUsd })}\n\n`)
}

/**
 * An InvokeModel stream `chunk` as the model's own SSE event: `event: <its type>` and `data: <its JSON, as Bedrock
 * sent it>` (line breaks, only ever JSON whitespace, removed). A chunk whose event has no `type` (Nova's native
 * events) is named `untyped`, or skipped when that is undefined; undefined also for a frame that is not a chunk.
 */
export function sseFromInvokeChunk(frame: Frame, untyped?: string): Uint8Array | undefined {
  if (frame.eventType !== 'chunk') return undefined
  const text = invokeChunkText(frame)
  if (text === undefined) return undefined
  const type = /^\s*\{\s*"type"\s*:\s*"([A-Za-z0-9_.-]+)"/.exec(text)?.[1] ?? typeOf(text) ?? untyped
  if (!type) return undefined
  return commentEncoder.encode(`event: ${type}\ndata: ${text.replace(/\r?\n/g, '')}\n\n`)
}

/** The `type` of an event whose JSON does not start with it. */
function typeOf(text: string): string | undefined {
  const t = jsonObject(text)?.type
  return typeof t === 'string' && /^[A-Za-z0-9_.-]+$/.test(t) ? t : undefined
}
