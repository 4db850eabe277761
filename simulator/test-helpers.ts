/** Helpers for the simulator's tests (not a test file itself). */
import { AwsClient } from 'aws4fetch'
import { codec } from './eventstream'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from './demo-credentials'

export const BASE = 'http://bedrock.test'
export const NOVA = 'us.amazon.nova-micro-v1:0'
export const PROFILE_ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123'

export interface DecodedFrame {
  headerNames: string[]
  headers: Record<string, string>
  payload: any
}

/** Re-frames a byte stream by the 4-byte length prefix and decodes each frame (CRCs checked by the codec). */
export function decodeFrames(bytes: Uint8Array): DecodedFrame[] {
  const frames: DecodedFrame[] = []
  let at = 0
  while (at < bytes.length) {
    if (bytes.length - at < 4) throw new Error(`truncated prelude at ${at}`)
    const total = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0)
    if (bytes.length - at < total) throw new Error(`truncated frame at ${at}`)
    const m = codec.decode(bytes.subarray(at, at + total))
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(m.headers)) headers[k] = String(v.value)
    frames.push({ headerNames: Object.keys(m.headers), headers, payload: JSON.parse(new TextDecoder().decode(m.body)) })
    at += total
  }
  return frames
}

export async function readAll(body: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; chunks: Uint8Array[] }> {
  const chunks: Uint8Array[] = []
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) chunks.push(c)
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.length
  }
  return { bytes, chunks }
}

export const userBody = (text = 'Hi there', extra: Record<string, unknown> = {}) =>
  JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }], ...extra })

export interface SignOpts {
  region?: string
  service?: string
  accessKeyId?: string
  secretAccessKey?: string
  sessionToken?: string
  base?: string
  headers?: Record<string, string>
  stream?: boolean
}

export function modelUrl(modelId: string, stream = false, base = BASE): string {
  return `${base}/model/${encodeURIComponent(modelId)}/${stream ? 'converse-stream' : 'converse'}`
}

export function client(o: SignOpts = {}): AwsClient {
  return new AwsClient({
    accessKeyId: o.accessKeyId ?? DEMO_ACCESS_KEY_ID,
    secretAccessKey: o.secretAccessKey ?? DEMO_SECRET_ACCESS_KEY,
    sessionToken: o.sessionToken,
    service: o.service ?? 'bedrock',
    region: o.region ?? 'us-east-1',
    retries: 0,
  })
}

/** A Request signed by aws4fetch, as a router would send it. */
export function signed(modelId: string, body: string = userBody(), o: SignOpts = {}): Promise<Request> {
  return client(o).sign(modelUrl(modelId, o.stream, o.base), {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...o.headers },
  })
}

export function bearer(modelId: string, body: string = userBody(), key = DEMO_API_KEY, stream = false): Request {
  return new Request(modelUrl(modelId, stream), {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
  })
}

/** Copies a request with changes, keeping its (now possibly stale) signature. */
export async function tamper(req: Request, change: { url?: string; body?: string; headers?: Record<string, string> }): Promise<Request> {
  const headers = new Headers(req.headers)
  for (const [k, v] of Object.entries(change.headers ?? {})) headers.set(k, v)
  return new Request(change.url ?? req.url, { method: req.method, headers, body: change.body ?? (await req.text()) })
}

export const errorTypeOf = (res: Response) => res.headers.get('x-amzn-errortype')?.split(':')[0]

export const CLAUDE = 'us.anthropic.claude-sonnet-4-6'
export const ANTHROPIC_VERSION = 'bedrock-2023-05-31'

export type ModelAction = 'converse' | 'converse-stream' | 'invoke' | 'invoke-with-response-stream' | 'count-tokens'

export function actionUrl(modelId: string, action: ModelAction, base = BASE): string {
  return `${base}/model/${encodeURIComponent(modelId)}/${action}`
}

/** A bearer-authenticated POST to any simulator path. */
export function bearerPost(path: string, body: string, headers: Record<string, string> = {}, key = DEMO_API_KEY): Request {
  return new Request(`${BASE}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
  })
}

/** A bearer-authenticated request for one model operation. */
export const bearerAction = (modelId: string, action: ModelAction, body: string, headers: Record<string, string> = {}) =>
  bearerPost(actionUrl(modelId, action, ''), body, headers)

/** An Anthropic Messages body as Bedrock's InvokeModel takes it. */
export const claudeBody = (text = 'Hi there', extra: Record<string, unknown> = {}) =>
  JSON.stringify({ anthropic_version: ANTHROPIC_VERSION, max_tokens: 1000, messages: [{ role: 'user', content: [{ type: 'text', text }] }], ...extra })

/** The native events inside InvokeModelWithResponseStream `chunk` frames. */
export function chunkEvents(frames: DecodedFrame[]): any[] {
  return frames.map((f) => {
    if (f.headers[':event-type'] !== 'chunk') throw new Error(`not a chunk frame: ${JSON.stringify(f.headers)}`)
    const binary = atob(f.payload.bytes)
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))))
  })
}
