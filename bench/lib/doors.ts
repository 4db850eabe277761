/**
 * How a client of each front door sends one request and reads its answer: served (with its text), a clear error in
 * the door's own shape, or malformed (broken content, a silent truncation, a body in no shape). Shared by the fault
 * matrix (test/node/fault-matrix.test.ts) and the soak (bench/soak.ts).
 */
import { EventStreamFramer, type Frame } from '../../src/wire/eventstream'
import { SseParser } from '../../test/support/sse-parser'

const decoder = new TextDecoder()

export type Seen = { kind: 'served'; text: string } | { kind: 'error'; how: string } | { kind: 'malformed'; detail: string }

export interface Door {
  name: string
  stream: boolean
  send(url: string, pool: string): Promise<Response>
  read(res: Response): Promise<Seen>
}

const json = (t: string): any => {
  try {
    return JSON.parse(t)
  } catch {
    return undefined
  }
}
/** The client key every door's requests carry (set by the caller). */
export const clientKey = { value: 'test-client-key-1', timeoutMs: 20_000 }
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${clientKey.value}`, 'x-api-key': clientKey.value, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(clientKey.timeoutMs),
  })
const converseBody = { messages: [{ role: 'user', content: [{ text: 'tell me' }] }], inferenceConfig: { maxTokens: 200 } }
const claudeBody = { anthropic_version: 'bedrock-2023-05-31', max_tokens: 200, messages: [{ role: 'user', content: 'tell me' }] }

function frames(bytes: Uint8Array): Frame[] | string {
  try {
    const framer = new EventStreamFramer()
    const out = framer.push(bytes)
    framer.end()
    return out
  } catch (e) {
    return `does not frame: ${(e as Error).message}`
  }
}
function sse(text: string) {
  const p = new SseParser()
  return [...p.push(text), ...p.end()]
}
/** A non-200 answer is a clear error when it has the door's error shape. */
function httpError(res: Response, text: string, shape: 'bedrock' | 'openai' | 'anthropic'): Seen {
  const body = json(text)
  if (shape === 'bedrock') return res.headers.get('x-amzn-errortype') && typeof body?.message === 'string' ? { kind: 'error', how: `${res.status} ${res.headers.get('x-amzn-errortype')!.split(':')[0]}` } : { kind: 'malformed', detail: `${res.status}: ${text.slice(0, 200)}` }
  if (shape === 'openai') return typeof body?.error?.message === 'string' ? { kind: 'error', how: `${res.status} ${body.error.type}` } : { kind: 'malformed', detail: `${res.status}: ${text.slice(0, 200)}` }
  return body?.type === 'error' && typeof body.error?.message === 'string' ? { kind: 'error', how: `${res.status} ${body.error.type}` } : { kind: 'malformed', detail: `${res.status}: ${text.slice(0, 200)}` }
}

/** A plain (non-stream) door's reader: its error shape, and where its answer's text is. */
function jsonAnswer(shape: 'bedrock' | 'openai' | 'anthropic', textOf: (body: any) => unknown): Door['read'] {
  return async (res) => {
    const text = await res.text()
    if (res.status !== 200) return httpError(res, text, shape)
    const answer = textOf(json(text))
    return typeof answer === 'string' ? { kind: 'served', text: answer } : { kind: 'malformed', detail: `200 without an answer: ${text.slice(0, 200)}` }
  }
}

/** A binary event stream's frames, or why they are not a clean answer or a clean error. */
async function binaryFrames(res: Response): Promise<Frame[] | Seen> {
  const bytes = new Uint8Array(await res.arrayBuffer())
  if (res.status !== 200) return httpError(res, decoder.decode(bytes), 'bedrock')
  const f = frames(bytes)
  if (typeof f === 'string') return { kind: 'malformed', detail: f }
  const bad = f.findIndex((x) => x.messageType !== 'event')
  if (bad >= 0) return bad === f.length - 1 && f[bad].exceptionType ? { kind: 'error', how: `exception frame ${f[bad].exceptionType}` } : { kind: 'malformed', detail: 'frames after an exception' }
  return f
}

export const DOORS: Door[] = [
  {
    name: 'Bedrock Converse',
    stream: false,
    send: (url, pool) => post(`${url}/model/${pool}/converse`, converseBody),
    read: jsonAnswer('bedrock', (b) => (typeof b?.stopReason === 'string' ? b.output?.message?.content?.[0]?.text : undefined)),
  },
  {
    name: 'Bedrock ConverseStream (binary)',
    stream: true,
    send: (url, pool) => post(`${url}/model/${pool}/converse-stream`, converseBody),
    async read(res) {
      const f = await binaryFrames(res)
      if (!Array.isArray(f)) return f
      const names = f.map((x) => x.eventType)
      const text = f.filter((x) => x.eventType === 'contentBlockDelta').map((x) => json(decoder.decode(x.payload))?.delta?.text ?? '').join('')
      return names[0] === 'messageStart' && names.includes('messageStop') && names.at(-1) === 'metadata' ? { kind: 'served', text } : { kind: 'malformed', detail: `ended after [${names.join(', ')}] without an error (silent truncation)` }
    },
  },
  {
    name: 'Bedrock ConverseStream (SSE)',
    stream: true,
    send: (url, pool) => post(`${url}/model/${pool}/converse-stream`, converseBody, { accept: 'text/event-stream' }),
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'bedrock')
      const events = sse(text).filter((e) => e.event !== 'message' || e.data !== '')
      const err = events.findIndex((e) => e.event === 'error')
      if (err >= 0) return err === events.length - 1 && typeof json(events[err].data)?.message === 'string' ? { kind: 'error', how: `event: error ${json(events[err].data).type}` } : { kind: 'malformed', detail: 'events after event: error' }
      const names = events.map((e) => e.event)
      const answer = events.filter((e) => e.event === 'contentBlockDelta').map((e) => json(e.data)?.delta?.text ?? '').join('')
      return names[0] === 'messageStart' && names.includes('messageStop') && names.at(-1) === 'metadata' ? { kind: 'served', text: answer } : { kind: 'malformed', detail: `ended after [${names.join(', ')}] without an error` }
    },
  },
  {
    name: 'Bedrock InvokeModel',
    stream: false,
    send: (url, pool) => post(`${url}/model/${pool}/invoke`, claudeBody),
    read: jsonAnswer('bedrock', (b) => (b?.type === 'message' ? b.content?.[0]?.text : undefined)),
  },
  {
    name: 'Bedrock InvokeModelWithResponseStream',
    stream: true,
    send: (url, pool) => post(`${url}/model/${pool}/invoke-with-response-stream`, claudeBody),
    async read(res) {
      const f = await binaryFrames(res)
      if (!Array.isArray(f)) return f
      const events = f.map((x) => json(Buffer.from(json(decoder.decode(x.payload))?.bytes ?? '', 'base64').toString()))
      const text = events.filter((e) => e?.type === 'content_block_delta').map((e) => e.delta?.text ?? '').join('')
      return events.at(-1)?.type === 'message_stop' ? { kind: 'served', text } : { kind: 'malformed', detail: `ended after [${events.map((e) => e?.type).join(', ')}] without an error` }
    },
  },
  {
    name: 'OpenAI chat completions',
    stream: false,
    send: (url, pool) => post(`${url}/v1/chat/completions`, { model: pool, messages: [{ role: 'user', content: 'tell me' }] }),
    read: jsonAnswer('openai', (b) => b?.choices?.[0]?.message?.content),
  },
  {
    name: 'OpenAI chat completions (stream)',
    stream: true,
    send: (url, pool) => post(`${url}/v1/chat/completions`, { model: pool, stream: true, messages: [{ role: 'user', content: 'tell me' }] }),
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'openai')
      const data = sse(text).map((e) => e.data)
      const err = data.findIndex((d) => json(d)?.error)
      if (err >= 0) return err === data.length - 1 && typeof json(data[err]).error.message === 'string' ? { kind: 'error', how: `data: error ${json(data[err]).error.type}` } : { kind: 'malformed', detail: 'chunks after the error' }
      const chunks = data.filter((d) => d !== '[DONE]').map(json)
      const answer = chunks.map((c) => c?.choices?.[0]?.delta?.content ?? '').join('')
      return data.at(-1) === '[DONE]' && chunks.some((c) => c?.choices?.[0]?.finish_reason) ? { kind: 'served', text: answer } : { kind: 'malformed', detail: 'ended without [DONE] or an error' }
    },
  },
  {
    name: 'Anthropic messages',
    stream: false,
    send: (url, pool) => post(`${url}/v1/messages`, { model: pool, max_tokens: 200, messages: [{ role: 'user', content: 'tell me' }] }),
    read: jsonAnswer('anthropic', (b) => (b?.type === 'message' ? b.content?.[0]?.text : undefined)),
  },
  {
    name: 'Anthropic messages (stream)',
    stream: true,
    send: (url, pool) => post(`${url}/v1/messages`, { model: pool, stream: true, max_tokens: 200, messages: [{ role: 'user', content: 'tell me' }] }),
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'anthropic')
      const events = sse(text)
      const err = events.findIndex((e) => e.event === 'error')
      if (err >= 0) return err === events.length - 1 && json(events[err].data)?.type === 'error' ? { kind: 'error', how: `event: error ${json(events[err].data).error.type}` } : { kind: 'malformed', detail: 'events after event: error' }
      const answer = events.filter((e) => e.event === 'content_block_delta').map((e) => json(e.data)?.delta?.text ?? '').join('')
      return events.at(-1)?.event === 'message_stop' ? { kind: 'served', text: answer } : { kind: 'malformed', detail: `ended after [${events.map((e) => e.event).join(', ')}] without an error` }
    },
  },
]

