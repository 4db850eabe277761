/**
 * The fault matrix (docs/fault-matrix.md): every front door × every upstream fault, through the router in workerd
 * against the simulator. Each cell has a pool of its own: a primary in us-east-1, whose first attempt the simulator
 * faults, and a clean fallback in us-west-2. A fault before any content must end in the fallback's complete answer; a
 * fault after content was sent, in a clear error in the door's own shape at the end of the stream — never a hang, a
 * silent truncation or a 200 with broken content; a slow trickle below the idle timeout, in the primary's complete
 * answer. Afterwards the pool's state must agree with what was sent: the primary tried once, its window holding the
 * attempt exactly when upstream may have counted it (see primaryWindow), the fallback's holding its one answer, no
 * probe left in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventStreamFramer, type Frame } from '../../src/wire/eventstream'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const CLAUDE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const ADMIN = 'fault-matrix-admin'
const decoder = new TextDecoder()

type Seen = { kind: 'served'; text: string } | { kind: 'error'; how: string } | { kind: 'malformed'; detail: string }

interface Door {
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
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
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

const DOORS: Door[] = [
  {
    name: 'Bedrock Converse',
    stream: false,
    send: (url, pool) => post(`${url}/model/${pool}/converse`, converseBody),
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'bedrock')
      const b = json(text)
      return typeof b?.output?.message?.content?.[0]?.text === 'string' && typeof b.stopReason === 'string' ? { kind: 'served', text: b.output.message.content[0].text } : { kind: 'malformed', detail: `200 without an answer: ${text.slice(0, 200)}` }
    },
  },
  {
    name: 'Bedrock ConverseStream (binary)',
    stream: true,
    send: (url, pool) => post(`${url}/model/${pool}/converse-stream`, converseBody),
    async read(res) {
      const bytes = new Uint8Array(await res.arrayBuffer())
      if (res.status !== 200) return httpError(res, decoder.decode(bytes), 'bedrock')
      const f = frames(bytes)
      if (typeof f === 'string') return { kind: 'malformed', detail: f }
      const bad = f.findIndex((x) => x.messageType !== 'event')
      if (bad >= 0) return bad === f.length - 1 && f[bad].exceptionType ? { kind: 'error', how: `exception frame ${f[bad].exceptionType}` } : { kind: 'malformed', detail: 'frames after an exception' }
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
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'bedrock')
      const b = json(text)
      return b?.type === 'message' && typeof b.content?.[0]?.text === 'string' ? { kind: 'served', text: b.content[0].text } : { kind: 'malformed', detail: `200 without a message: ${text.slice(0, 200)}` }
    },
  },
  {
    name: 'Bedrock InvokeModelWithResponseStream',
    stream: true,
    send: (url, pool) => post(`${url}/model/${pool}/invoke-with-response-stream`, claudeBody),
    async read(res) {
      const bytes = new Uint8Array(await res.arrayBuffer())
      if (res.status !== 200) return httpError(res, decoder.decode(bytes), 'bedrock')
      const f = frames(bytes)
      if (typeof f === 'string') return { kind: 'malformed', detail: f }
      const bad = f.findIndex((x) => x.messageType !== 'event')
      if (bad >= 0) return bad === f.length - 1 && f[bad].exceptionType ? { kind: 'error', how: `exception frame ${f[bad].exceptionType}` } : { kind: 'malformed', detail: 'frames after an exception' }
      const events = f.map((x) => json(Buffer.from(json(decoder.decode(x.payload))?.bytes ?? '', 'base64').toString()))
      const text = events.filter((e) => e?.type === 'content_block_delta').map((e) => e.delta?.text ?? '').join('')
      return events.at(-1)?.type === 'message_stop' ? { kind: 'served', text } : { kind: 'malformed', detail: `ended after [${events.map((e) => e?.type).join(', ')}] without an error` }
    },
  },
  {
    name: 'OpenAI chat completions',
    stream: false,
    send: (url, pool) => post(`${url}/v1/chat/completions`, { model: pool, messages: [{ role: 'user', content: 'tell me' }] }),
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'openai')
      const b = json(text)
      return typeof b?.choices?.[0]?.message?.content === 'string' ? { kind: 'served', text: b.choices[0].message.content } : { kind: 'malformed', detail: text.slice(0, 200) }
    },
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
    async read(res) {
      const text = await res.text()
      if (res.status !== 200) return httpError(res, text, 'anthropic')
      const b = json(text)
      return b?.type === 'message' && typeof b.content?.[0]?.text === 'string' ? { kind: 'served', text: b.content[0].text } : { kind: 'malformed', detail: text.slice(0, 200) }
    },
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

type Expect = 'fallback' | 'error' | 'primary'
interface Fault {
  name: string
  rule: Record<string, unknown>
  streamsOnly?: boolean
  /** What a client must get: the fallback's answer, a clear error after content (streams), or the primary's answer. */
  expect: Expect
  /**
   * What the primary's window must hold afterwards: 0 where Bedrock refused the request before it started (a throttle,
   * a 5xx, an exception before content: Bedrock does not count it, the reservation is released), 1 where the router
   * cannot know whether upstream counted it (a timeout, a reset, a broken body) or it did (a stream that started).
   */
  primaryWindow: 0 | 1
}
const FAULTS: Fault[] = [
  { name: '429', rule: { fault: 'throttle' }, expect: 'fallback', primaryWindow: 0 },
  { name: '503', rule: { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' }, expect: 'fallback', primaryWindow: 0 },
  { name: '500', rule: { fault: 'error', status: 500, errorType: 'InternalServerException' }, expect: 'fallback', primaryWindow: 0 },
  { name: 'a stall past the deadline', rule: { fault: 'stall', ms: 4000 }, expect: 'fallback', primaryWindow: 1 },
  { name: 'connection reset', rule: { fault: 'reset' }, expect: 'fallback', primaryWindow: 1 },
  { name: '200 with a non-JSON body', rule: { fault: 'garbage' }, expect: 'fallback', primaryWindow: 1 },
  { name: 'an exception frame before the first content', rule: { fault: 'exception', afterFrames: 1, exceptionType: 'serviceUnavailableException' }, streamsOnly: true, expect: 'fallback', primaryWindow: 0 },
  { name: 'an exception mid-stream', rule: { fault: 'exception', afterFrames: 3, exceptionType: 'modelStreamErrorException' }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a cut mid-stream', rule: { fault: 'cut', afterFrames: 3 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a corrupted CRC', rule: { fault: 'corrupt', afterFrames: 3 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a truncated frame', rule: { fault: 'cut', afterFrames: 3, partialBytes: 9 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a slow trickle below the idle timeout', rule: { fault: 'delay', frameDelayMs: 150 }, streamsOnly: true, expect: 'primary', primaryWindow: 1 },
]

const poolName = (d: number, f: number) => `cell-${d}-${f}`
let h: Harness
beforeAll(async () => {
  h = await startHarness(
    (e) => {
      const pools: Record<string, unknown> = {}
      DOORS.forEach((_, d) =>
        FAULTS.forEach((_, f) => {
          const name = poolName(d, f)
          pools[name] = {
            ttfbTimeoutMs: 1000,
            attemptTimeoutMs: 1500,
            streamIdleTimeoutMs: 1000,
            timeoutMs: 15_000,
            deployments: [
              { id: `${name}-primary`, modelId: CLAUDE, region: 'us-east-1', endpoint: e['us-east-1'] },
              { id: `${name}-fallback`, modelId: CLAUDE, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
            ],
          }
        }),
      )
      return { pools }
    },
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_LOG_SAMPLE: '0' },
  )
})
afterAll(() => h?.close())

/** Upstream requests the simulator received per region since `since` (ms). */
async function sentSince(since: number): Promise<Record<string, number>> {
  const recs = (await h.control('/__sim/requests')).requests as Array<{ region: string; time: number }>
  const out: Record<string, number> = {}
  for (const r of recs) if (r.time >= since) out[r.region] = (out[r.region] ?? 0) + 1
  return out
}

describe.each(DOORS.map((door, d) => ({ door, d })))('$door.name', ({ door, d }) => {
  for (const [f, fault] of FAULTS.entries()) {
    const applies = !fault.streamsOnly || door.stream
    it.skipIf(!applies)(`× ${fault.name}: ${fault.expect === 'fallback' ? "the fallback's answer" : fault.expect === 'error' ? 'a clear error in the door’s shape' : "the primary's whole answer"}; state consistent`, async () => {
      const pool = poolName(d, f)
      await h.control('/__sim/reset', {})
      await h.control('/__sim/rules', [{ ...fault.rule, region: 'us-east-1', times: 1 }])
      const t0 = Date.now()
      const res = await door.send(h.router.url, pool)
      const seen = await door.read(res)
      const detail = `${door.name} × ${fault.name}: ${JSON.stringify(seen)}; deployment ${res.headers.get('x-router-deployment')}, failovers ${res.headers.get('x-router-failovers')}`
      expect(seen.kind, detail).not.toBe('malformed')
      if (fault.expect === 'error') {
        expect(seen.kind, detail).toBe('error')
        expect(res.headers.get('x-router-deployment'), detail).toBe(`${pool}-primary`)
      } else {
        expect(seen.kind, detail).toBe('served')
        expect((seen as { text: string }).text, detail).toContain(fault.expect === 'fallback' ? 'us-west-2' : 'us-east-1')
        expect(res.headers.get('x-router-deployment'), detail).toBe(`${pool}-${fault.expect}`)
        if (fault.expect === 'fallback') expect(res.headers.get('x-router-failovers'), detail).toMatch(new RegExp(`^${pool}-primary=`))
      }

      // The pool's state agrees with what was sent: a window entry per attempt, nothing left in flight.
      const sent = await sentSince(t0)
      const snapshot = (await (await fetch(`${h.router.url}/health/deployments`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { deployments: Array<{ pool: string; id: string; window: { requests: number }; probesInFlight: number }> }
      const deployments = snapshot.deployments.filter((x) => x.pool === pool)
      const by = Object.fromEntries(deployments.map((x) => [x.id, x]))
      expect(sent['us-east-1'], `${detail}: the primary was tried once`).toBe(1)
      expect(by[`${pool}-primary`].window.requests, `${detail}; snapshot ${JSON.stringify(deployments)}`).toBe(fault.primaryWindow)
      expect(by[`${pool}-fallback`].window.requests, `${detail}; sent ${JSON.stringify(sent)}`).toBe(sent['us-west-2'] ?? 0)
      for (const x of deployments) expect(x.probesInFlight, detail).toBe(0)
    }, 30_000)
  }
})
