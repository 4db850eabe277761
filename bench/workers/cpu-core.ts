/**
 * Section 3: CPU time per request inside the router, with upstream I/O removed. The real app (`createApp`, in-memory
 * state store) serves requests through `app.request` while `fetch` is stubbed to answer at once with a canned
 * Converse body or event stream. Everything the worker does per request is timed: client-key check, config lookup,
 * body parse, estimate, routing decision and reservation, SigV4 signing (aws4fetch, as in production), reading the
 * answer, trace headers, the JSON log line, and for streams the framing, CRC checks and SSE re-encoding.
 *
 * Platform-neutral: ./cpu.ts wraps it as a Worker (bundled and run in workerd by bench/cpu.ts, `GET /run`), and
 * bench/cpu.ts imports `runCpuBench` in Node for the labelled cross-check. workerd's clock only advances at I/O, so each
 * timed batch is bracketed by a `setTimeout(0)` (as bench/lib/framing.ts does) and batches are long (≥ 100 ms).
 */
import { createApp } from '../../src/app'
import { sendToBedrock } from '../../src/upstream/bedrock'
import type { DeploymentConfig } from '../../src/config/types'
import { MemoryStateStore } from '../../src/state/memory'
import { benchFraming } from '../lib/framing'
import { median } from '../lib/stats'
import { EventStreamFramer, encodeEventFrame } from '../../src/wire/eventstream'
import { utf8ToBase64 } from '../../src/wire/base64'
import { Hono } from 'hono'
import { AwsV4Signer } from 'aws4fetch'
import { signSigV4 } from '../../src/upstream/sigv4'

const CLIENT_KEY = 'bench-client-key-0001'
const utf8 = new TextEncoder()
const utf8Length = (text: string) => utf8.encode(text).length
/**
 * What the runtime hands every request in production (Workers' `ctx`, the Deno adapter's own): without one, Hono's
 * `c.executionCtx` throws on every read, a cost no deployed request pays.
 */
const EXECUTION_CTX = { waitUntil: (p: Promise<unknown>) => void p.catch(() => {}), passThroughOnException: () => {}, props: {} }
const LIMITED_KEY = 'bench-limited-key-0001'
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1']

function config(strategy: string, limits: boolean) {
  return {
    strategy,
    deployments: REGIONS.map((region, i) => ({
      id: `${strategy}-${region}`,
      modelId: MODEL,
      region,
      weight: i === 0 ? 2 : 1,
      ...(limits ? { rpm: 1_000_000_000, tpm: 1_000_000_000_000 } : {}),
    })),
  }
}

const CREDENTIALS = { accessKeyId: 'AKIDSIMULATOR00000001', secretAccessKey: 'simulator/SECRET/key0000000000000000000000' }
const ENV = {
  ROUTER_CONFIG: JSON.stringify({
    pools: { weighted: config('weighted', false), rla: config('rate-limit-aware', true), latency: config('latency', false) },
  }),
  ROUTER_API_KEYS: `${CLIENT_KEY},another-key-0002,third-key-0003`,
  AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
}

/** The same conversation as an OpenAI chat request, streamed with usage. */
const OPENAI_STREAM_BODY = JSON.stringify({
  model: 'weighted',
  stream: true,
  stream_options: { include_usage: true },
  max_tokens: 512,
  temperature: 0.5,
  messages: [
    { role: 'system', content: 'You are a concise assistant. Answer in one or two sentences, and never invent facts you cannot support.' },
    { role: 'user', content: 'What does an edge router for Amazon Bedrock do, in one sentence? Please keep it short and precise.' },
    { role: 'assistant', content: 'It spreads Converse requests over deployments in several regions and fails over when one is throttled.' },
    { role: 'user', content: 'And why does it need to know each deployment’s tokens-per-minute quota? Explain briefly, with one example.' },
  ],
})

/** A typical request: system prompt, two turns, inference config (about 1 KB). */
const REQUEST_BODY = JSON.stringify({
  system: [{ text: 'You are a concise assistant. Answer in one or two sentences, and never invent facts you cannot support.' }],
  messages: [
    { role: 'user', content: [{ text: 'What does an edge router for Amazon Bedrock do, in one sentence? Please keep it short and precise.' }] },
    { role: 'assistant', content: [{ text: 'It spreads Converse requests over deployments in several regions and fails over when one is throttled.' }] },
    { role: 'user', content: [{ text: 'And why does it need to know each deployment’s tokens-per-minute quota? Explain briefly, with one example.' }] },
  ],
  inferenceConfig: { maxTokens: 512, temperature: 0.5 },
})

const CONVERSE_ANSWER = JSON.stringify({
  output: { message: { role: 'assistant', content: [{ text: 'Because Bedrock counts input plus reserved output tokens per minute: a request that would overflow a region’s window is better sent to another region than throttled. For example, a 4,000-token prompt with maxTokens 2,000 needs 6,000 tokens of headroom.' }] } },
  stopReason: 'end_turn',
  usage: { inputTokens: 96, outputTokens: 61, totalTokens: 157 },
  metrics: { latencyMs: 812 },
})

const PAD = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** A ConverseStream answer as Bedrock frames it: messageStart, `deltas` contentBlockDelta, stops, metadata. */
function streamFrames(deltas: number): Uint8Array[] {
  const frames = [encodeEventFrame('messageStart', JSON.stringify({ p: PAD.slice(0, 20), role: 'assistant' }))]
  for (let i = 0; i < deltas; i++) {
    frames.push(encodeEventFrame('contentBlockDelta', JSON.stringify({ contentBlockIndex: 0, delta: { text: ` token${i}` }, p: PAD.slice(0, 10 + (i % 40)) })))
  }
  frames.push(encodeEventFrame('contentBlockStop', JSON.stringify({ contentBlockIndex: 0, p: 'ab' })))
  frames.push(encodeEventFrame('messageStop', JSON.stringify({ stopReason: 'end_turn', p: PAD.slice(0, 24) })))
  frames.push(encodeEventFrame('metadata', JSON.stringify({ usage: { inputTokens: 96, outputTokens: deltas, totalTokens: 96 + deltas }, metrics: { latencyMs: 800 }, p: PAD.slice(0, 30) })))
  return frames
}

/** The same answer as an Anthropic model streams it through InvokeModelWithResponseStream: `chunk` frames of base64 events. */
function invokeFrames(deltas: number): Uint8Array[] {
  const events: object[] = [
    { type: 'message_start', message: { id: 'msg_bench', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 96, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  ]
  for (let i = 0; i < deltas; i++) events.push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ` token${i}` } })
  events.push({ type: 'content_block_stop', index: 0 })
  events.push({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: deltas } })
  events.push({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 96, outputTokenCount: deltas, invocationLatency: 800, firstByteLatency: 100 } })
  return events.map((e, i) => encodeEventFrame('chunk', JSON.stringify({ bytes: utf8ToBase64(JSON.stringify(e)), p: PAD.slice(0, 10 + (i % 40)) })))
}

/** An Anthropic Messages request (streamed) for the same conversation. */
const ANTHROPIC_STREAM_BODY = JSON.stringify({
  model: 'weighted',
  max_tokens: 512,
  stream: true,
  system: 'You are a concise assistant. Answer in one or two sentences, and never invent facts you cannot support.',
  messages: [
    { role: 'user', content: 'What does an edge router for Amazon Bedrock do, in one sentence? Please keep it short and precise.' },
    { role: 'assistant', content: 'It spreads Converse requests over deployments in several regions and fails over when one is throttled.' },
    { role: 'user', content: 'And why does it need to know each deployment’s tokens-per-minute quota? Explain briefly, with one example.' },
  ],
})

type Canned = { kind: 'json' } | { kind: 'stream'; frames: Uint8Array[] }

/** The stubbed upstream: answers at once, a stream delivers one frame per read (as Bedrock's do). */
function stubFetch(canned: () => Canned): typeof fetch {
  return (async () => {
    const c = canned()
    if (c.kind === 'json') {
      return new Response(CONVERSE_ANSWER, { status: 200, headers: { 'content-type': 'application/json', 'x-amzn-requestid': 'bench-request-id' } })
    }
    let i = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < c.frames.length) controller.enqueue(c.frames[i++])
        else controller.close()
      },
    })
    return new Response(body, { status: 200, headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'bench-request-id' } })
  }) as typeof fetch
}

/**
 * The floor of a routed Converse request in this runtime: what any Bedrock proxy on Hono does, and nothing the router
 * adds — compare the key with a string, read and parse the body, sign (the router's own signer, the cheapest here:
 * see `aws4fetchSigningUs`), fetch, read the answer, answer it, and print one JSON log line. No routing, no state, no
 * trace, no accounting. `log: false` drops the line.
 */
function floorApp(log: boolean) {
  const app = new Hono()
  app.post('/model/:modelId/converse', async (c) => {
    if (c.req.header('authorization') !== `Bearer ${CLIENT_KEY}`) return c.json({ message: 'bad key' }, 403)
    const body = await c.req.text()
    const parsed = JSON.parse(body) as { messages?: unknown[] }
    if (!Array.isArray(parsed.messages)) return c.json({ message: 'no messages' }, 400)
    const started = Date.now()
    const modelId = c.req.param('modelId')
    const url = `https://bedrock-runtime.us-east-1.amazonaws.com/model/${encodeURIComponent(MODEL)}/converse`
    const bytes = utf8.encode(body)
    const headers = await signSigV4({ url, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: bytes, credentials: CREDENTIALS, region: 'us-east-1', service: 'bedrock' })
    const upstream = await fetch(url, { method: 'POST', headers, body: bytes })
    const answer = await upstream.text()
    if (log) console.log(JSON.stringify({ msg: 'request', model: modelId, deployment: 'us-east-1', status: upstream.status, totalMs: Date.now() - started }))
    return new Response(answer, { status: upstream.status, headers: { 'content-type': 'application/json' } })
  })
  return app
}

/** What the bench sends requests to: Hono's in-process `request` (the router's app, or the floor's). */
interface AppLike {
  request(path: string, init: RequestInit, env: unknown, ctx: typeof EXECUTION_CTX): Response | Promise<Response>
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/** µs per call of `body`, median of `batches` timed batches of `n` calls (after a warm-up batch). */
async function timeIt(n: number, batches: number, body: () => Promise<unknown>): Promise<{ us: number; batchesUs: number[] }> {
  for (let i = 0; i < Math.max(50, n >> 2); i++) await body()
  const batchesUs: number[] = []
  for (let b = 0; b < batches; b++) {
    await tick()
    const t0 = performance.now()
    for (let i = 0; i < n; i++) await body()
    await tick()
    batchesUs.push(((performance.now() - t0) * 1000) / n)
  }
  const sorted = [...batchesUs].sort((a, b) => a - b)
  return { us: sorted[sorted.length >> 1], batchesUs }
}

/**
 * One case timed by timeInterleaved: a body, or a body with what to do around each of its batches (untimed) and its
 * own calls per batch (`n`: a long stream's case makes fewer calls than a short one's, so its batches last as long).
 */
type Timed = (() => Promise<unknown>) | { run: () => Promise<unknown>; enter?: () => void; exit?: () => void; n?: number }

/**
 * Like timeIt for several bodies, their batches interleaved (one batch of each in turn, the order rotating), so a
 * drift of the machine over the section falls on every case alike: µs each (median) and every batch.
 */
async function timeInterleaved<K extends string>(n: number, batches: number, bodies: Record<K, Timed>): Promise<Record<K, { us: number; batchesUs: number[] }>> {
  const keys = Object.keys(bodies) as K[]
  const parts = (k: K): { run: () => Promise<unknown>; enter?: () => void; exit?: () => void; n?: number } => {
    const b: Timed = bodies[k]
    return typeof b === 'function' ? { run: b } : b
  }
  for (const k of keys) {
    const { run, enter, exit, n: own } = parts(k)
    enter?.()
    try {
      for (let i = 0; i < Math.max(own === undefined ? 50 : 5, (own ?? n) >> 2); i++) await run()
    } finally {
      exit?.()
    }
  }
  const times = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>
  for (let b = 0; b < batches; b++) {
    for (let j = 0; j < keys.length; j++) {
      const k = keys[(b + j) % keys.length]
      const { run, enter, exit, n: own } = parts(k)
      const calls = own ?? n
      enter?.()
      try {
        await tick()
        const t0 = performance.now()
        for (let i = 0; i < calls; i++) await run()
        await tick()
        times[k].push(((performance.now() - t0) * 1000) / calls)
      } finally {
        exit?.()
      }
    }
  }
  return Object.fromEntries(keys.map((k) => [k, { us: [...times[k]].sort((a, c) => a - c)[times[k].length >> 1], batchesUs: times[k] }])) as Record<K, { us: number; batchesUs: number[] }>
}

export interface CpuBenchOptions {
  /** Requests per timed batch (default 400). */
  n?: number
  batches?: number
  /** contentBlockDelta events in the long stream (default 400). */
  streamDeltas?: number
}

export interface CpuBenchResult {
  runtime: string
  /** µs per non-streaming request, by pool strategy. */
  converse: Record<string, number>
  /** µs per request for signing alone (`sendToBedrock` with a stubbed fetch: URL, SigV4, the stub's answer). */
  signing: number
  /** The same with aws4fetch's signer (what the router used until it signed itself), cached signing key. */
  aws4fetchSigningUs?: number
  /** µs per streamed request with a short (3-delta) and a long stream, SSE and binary; per extra event. */
  stream: {
    shortEvents: number
    longEvents: number
    sseShortUs: number
    sseLongUs: number
    binaryShortUs: number
    binaryLongUs: number
    /** The same streams through POST /v1/chat/completions (stream, include_usage). */
    openAiShortUs: number
    openAiLongUs: number
    openAiPerEventUs: number
    ssePerEventUs: number
    /** Per event above the relay floor (bare hop), each round's batches paired, then the median. */
    sseAboveFloorUs?: number
    openAiAboveFloorUs?: number
    /** The same streams through POST /v1/messages (a Claude pool: InvokeModelWithResponseStream chunks → Anthropic SSE). */
    anthropicShortUs?: number
    anthropicLongUs?: number
    anthropicPerEventUs?: number
    anthropicAboveFloorUs?: number
    binaryPerEventUs: number
  }
  /** bench/lib/framing.ts on the real capture: framing + SSE per frame, and its parts. */
  framing: Awaited<ReturnType<typeof benchFraming>>
  /** Framing + SSE per frame on this bench's long stream pushed frame by frame. */
  framingLongStreamUs: number
  /** Framing + OpenAI chunk rendering per frame, the same stream. */
  chunksLongStreamUs: number
  /** One `console.log` on its own (µs), after ≈ `workUs` of other work per line: what a line costs, by its spacing. */
  logLine?: { tight: { workUs: number; lineUs: number }; spaced: { workUs: number; lineUs: number } }
  /** The floor (`floorApp`): a Hono proxy that signs and forwards, with its own one JSON log line. */
  floorUs: number
  /** The same floor without a log line. */
  floorNoLogUs: number
  /** Converse (weighted) with `console.log` replaced by a no-op: the JSON log line's share. */
  converseNoLogUs: number
  /** Converse (weighted) with ROUTER_LOG_SAMPLE=0.01: plain successes logged one time in a hundred. */
  converseSampledUs: number
  /** Converse (weighted) from a scoped key with rpm, tpm and a budget: its own window acquired and settled too. */
  converseClientLimitUs: number
  /**
   * Relay shapes on the long stream, per frame, drained by the runtime (`new Response(stream).arrayBuffer()`):
   * the stub upstream alone; a pull-per-frame wrapper (what src/engine/converse-stream.ts does: return after one upstream
   * read); the same wrapper with highWaterMark 16 that keeps reading while the queue has room.
   */
  relay: { upstreamOnlyUs: number; pullPerFrameUs: number; pullHwm16Us: number; /** Read and enqueue each chunk unchanged: the floor of any JS relay. */ bareHopUs?: number }
  /** Spread: every batch, µs, for the headline converse case. */
  converseBatchesUs: number[]
}

export async function runCpuBench(opts: CpuBenchOptions = {}): Promise<CpuBenchResult> {
  const n = opts.n ?? 400
  const batches = opts.batches ?? 5
  const deltas = opts.streamDeltas ?? 400
  const realFetch = globalThis.fetch
  let canned: Canned = { kind: 'json' }
  globalThis.fetch = stubFetch(() => canned)
  try {
    const app = createApp({ stateStore: (() => {
      const store = new MemoryStateStore()
      return () => store
    })() })
    /** One request through `target` (the router, or the floor), answered 200 and read to the end. */
    const requestTo = (target: AppLike) => (path: string, accept: string, body = REQUEST_BODY, env: Record<string, string> = ENV, key = CLIENT_KEY) => async () => {
      const res = await target.request(
        path,
        // Content-Length as every SDK sends it (a Request built in process has none of its own).
        { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept, 'content-length': String(utf8Length(body)) }, body },
        env,
        EXECUTION_CTX,
      )
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`)
      await res.arrayBuffer()
    }
    const request = requestTo(app)
    const floorCase = (log: boolean) => requestTo(floorApp(log))('/model/weighted/converse', 'application/json')
    // The Converse cases (three pools, the router without its log line, with sampled lines, the floor with and
    // without its line) interleaved batch by batch, three times the batches: they are compared with each other.
    canned = { kind: 'json' }
    const log = console.log
    const quiet = { enter: () => void (console.log = () => {}), exit: () => void (console.log = log) }
    const conv = await timeInterleaved(n, batches * 3, {
      weighted: request('/model/weighted/converse', 'application/json'),
      rla: request('/model/rla/converse', 'application/json'),
      latency: request('/model/latency/converse', 'application/json'),
      noLog: { run: request('/model/weighted/converse', 'application/json'), ...quiet },
      sampled: request('/model/weighted/converse', 'application/json', REQUEST_BODY, { ...ENV, ROUTER_LOG_SAMPLE: '0.01' }),
      floor: floorCase(true),
      floorNoLog: { run: floorCase(false), ...quiet },
    })
    const converse: Record<string, number> = { weighted: conv.weighted.us, 'rate-limit-aware': conv.rla.us, latency: conv.latency.us }
    const converseBatchesUs = conv.weighted.batchesUs

    const deployment: DeploymentConfig = {
      id: 'd',
      modelId: MODEL,
      region: 'us-east-1',
      weight: 1,
      fallback: false,
      endpoint: 'https://bedrock-runtime.us-east-1.amazonaws.com',
      family: 'anthropic',
    }
    const credentials = { kind: 'sigv4' as const, ...CREDENTIALS }
    const signal = new AbortController().signal
    const signing = await timeIt(n, batches, async () => {
      const res = await sendToBedrock({ deployment, credentials, operation: 'converse', body: REQUEST_BODY, signal })
      await res.arrayBuffer()
    })
    const aws4fetchKeys = new Map<string, ArrayBuffer>()
    const aws4fetchSigning = await timeIt(n, batches, async () => {
      const bytes = utf8.encode(REQUEST_BODY)
      const url = `${deployment.endpoint}/model/${encodeURIComponent(MODEL)}/converse`
      const signed = await new AwsV4Signer({ method: 'POST', url, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: bytes, ...CREDENTIALS, service: 'bedrock', region: 'us-east-1', cache: aws4fetchKeys }).sign()
      const res = await fetch(signed.url, { method: 'POST', headers: signed.headers, body: bytes, signal })
      await res.arrayBuffer()
    })

    const short = streamFrames(3)
    const long = streamFrames(deltas)
    const invokeShort = invokeFrames(3)
    const invokeLong = invokeFrames(deltas)
    const extra = long.length - short.length
    /** A stream case: `frames` answered by the stub, through `path`; a long stream makes 1/20 of the calls per batch. */
    const streamCase = (frames: Uint8Array[], accept: string, path = '/model/weighted/converse-stream', body = REQUEST_BODY): Timed => ({
      run: request(path, accept, body),
      enter: () => void (canned = { kind: 'stream', frames }),
      n: frames.length > 50 ? Math.max(20, Math.round(n / 20)) : n,
    })

    const framing = await benchFraming(Math.max(2000, n * 10))
    const { sseFromFrame } = await import('../../src/wire/sse')
    const framingLong = await timeIt(Math.max(20, Math.round(n / 20)), batches, async () => {
      const framer = new EventStreamFramer()
      let bytes = 0
      for (const chunk of long) for (const f of framer.push(chunk)) bytes += sseFromFrame(f).length
      framer.end()
      return bytes
    })
    const { chunkRenderer } = await import('../../src/front-doors/openai/chunks')
    const chunksLong = await timeIt(Math.max(20, Math.round(n / 20)), batches, async () => {
      const framer = new EventStreamFramer()
      const renderer = chunkRenderer({ id: 'chatcmpl-bench', created: 1700000000, model: MODEL, includeUsage: true })
      let bytes = 0
      for (const chunk of long) for (const f of framer.push(chunk)) bytes += renderer.event(f)?.length ?? 0
      framer.end()
      return bytes
    })

    // A console.log alone, outside the router, at two spacings: after a Response read (≈ 10 µs of work) and after
    // ≈ 300 µs of arithmetic (about one routed request). What the line costs as such, and what its spacing adds.
    const logLine = async (spin: number) => {
      const line = JSON.stringify({ msg: 'request', pad: PAD.repeat(10) })
      const work = async (print: boolean) => {
        let x = 0
        for (let k = 0; k < spin; k++) x = (x * 31 + k) | 0
        await new Response(line).text()
        if (print) log(x === 0.5 ? '' : line)
      }
      const without = (await timeIt(n, batches, () => work(false))).us
      const withLine = (await timeIt(n, batches, () => work(true))).us
      return { workUs: without, lineUs: withLine - without }
    }
    const logTight = await logLine(0)
    const logSpaced = await logLine(60_000)
    // A scoped key with rpm, tpm and a daily budget (never reached): the client's own window, acquired beside the pool's.
    const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(LIMITED_KEY)))].map((b) => b.toString(16).padStart(2, '0')).join('')
    const limitedEnv = { ...ENV, ROUTER_CONFIG: JSON.stringify({ ...JSON.parse(ENV.ROUTER_CONFIG), clients: { keys: [{ name: 'limited', sha256: digest, rpm: 1_000_000_000, tpm: 1_000_000_000_000, budgetUsdPerDay: 1_000_000 }] } }) }
    canned = { kind: 'json' }
    const converseClientLimitUs = (await timeIt(n, batches, request('/model/weighted/converse', 'application/json', REQUEST_BODY, limitedEnv, LIMITED_KEY))).us

    const upstream = () => {
      let i = 0
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (i < long.length) controller.enqueue(long[i++])
          else controller.close()
        },
      })
    }
    const relay = (src: ReadableStream<Uint8Array>, highWaterMark: number) => {
      const reader = src.getReader()
      const framer = new EventStreamFramer()
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            for (;;) {
              const { done, value } = await reader.read()
              if (done) {
                framer.end()
                controller.close()
                return
              }
              const batch = framer.push(value)
              for (const f of batch) controller.enqueue(sseFromFrame(f))
              // pull-per-frame (stream.ts today): return after the first batch; otherwise fill the queue.
              if ((highWaterMark === 1 && batch.length > 0) || (controller.desiredSize ?? 0) <= 0) return
            }
          },
        },
        { highWaterMark },
      )
    }
    // The floor of any JS relay: read a chunk, enqueue it as it is (no framing), reading on within one pull while the
    // queue has room — the cheapest shape measured here (one read per pull costs more; a TransformStream far more).
    const bareHop = (src: ReadableStream<Uint8Array>) => {
      const reader = src.getReader()
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            for (;;) {
              const { done, value } = await reader.read()
              if (done) return controller.close()
              controller.enqueue(value)
              if ((controller.desiredSize ?? 0) <= 0) return
            }
          },
        },
        { highWaterMark: 8 },
      )
    }
    const nRelay = Math.max(20, Math.round(n / 20))
    const perFrame = (us: number) => (us * 1) / long.length
    // The router's streams (Bedrock SSE and binary, OpenAI chunks, Anthropic SSE; short and long) and the relay floors, interleaved batch by batch
    // in one set, three times the batches: the router's per-event cost and the floor it is compared with are measured
    // over the same stretch of the machine's drift (timed one after the other, they disagreed by more than their
    // difference). Per-event figures come from each round's own pair of batches (long − short), then the median.
    const streams = await timeInterleaved(nRelay, batches * 3, {
      sseShort: streamCase(short, 'text/event-stream'),
      sseLong: streamCase(long, 'text/event-stream'),
      binaryShort: streamCase(short, 'application/vnd.amazon.eventstream'),
      binaryLong: streamCase(long, 'application/vnd.amazon.eventstream'),
      // The same streams through the OpenAI front door (stream with include_usage): translated into chunks.
      openAiShort: streamCase(short, 'text/event-stream', '/v1/chat/completions', OPENAI_STREAM_BODY),
      openAiLong: streamCase(long, 'text/event-stream', '/v1/chat/completions', OPENAI_STREAM_BODY),
      // The Anthropic Messages door on a Claude pool: InvokeModelWithResponseStream chunks, re-emitted as Anthropic SSE.
      anthropicShort: streamCase(invokeShort, 'text/event-stream', '/v1/messages', ANTHROPIC_STREAM_BODY),
      anthropicLong: streamCase(invokeLong, 'text/event-stream', '/v1/messages', ANTHROPIC_STREAM_BODY),
      upstream: () => new Response(upstream()).arrayBuffer(),
      pullPerFrame: () => new Response(relay(upstream(), 1)).arrayBuffer(),
      pullHwm16: () => new Response(relay(upstream(), 16)).arrayBuffer(),
      bareHop: () => new Response(bareHop(upstream())).arrayBuffer(),
    })
    type Case = keyof typeof streams
    /** Per extra event, round by round: that round's long batch minus its short batch. */
    const perEventByRound = (longCase: Case, shortCase: Case) => streams[longCase].batchesUs.map((l, b) => (l - streams[shortCase].batchesUs[b]) / extra)
    const perEvent = (longCase: Case, shortCase: Case) => median(perEventByRound(longCase, shortCase))
    /** The same less the round's own relay floor (the bare hop's batch of that round). */
    const aboveFloor = (longCase: Case, shortCase: Case) => median(perEventByRound(longCase, shortCase).map((x, b) => x - perFrame(streams.bareHop.batchesUs[b])))
    const { us: sseShortUs } = streams.sseShort
    const { us: sseLongUs } = streams.sseLong
    const { us: binaryShortUs } = streams.binaryShort
    const { us: binaryLongUs } = streams.binaryLong
    const { us: openAiShortUs } = streams.openAiShort
    const { us: openAiLongUs } = streams.openAiLong
    const upstreamOnlyUs = perFrame(streams.upstream.us)
    const pullPerFrameUs = perFrame(streams.pullPerFrame.us)
    const pullHwm16Us = perFrame(streams.pullHwm16.us)
    const bareHopUs = perFrame(streams.bareHop.us)

    return {
      logLine: { tight: logTight, spaced: logSpaced },
      floorUs: conv.floor.us,
      floorNoLogUs: conv.floorNoLog.us,
      converseNoLogUs: conv.noLog.us,
      converseSampledUs: conv.sampled.us,
      converseClientLimitUs,
      relay: { upstreamOnlyUs, pullPerFrameUs, pullHwm16Us, bareHopUs },
      runtime: typeof navigator !== 'undefined' && navigator.userAgent ? navigator.userAgent : 'unknown',
      converse,
      signing: signing.us,
      aws4fetchSigningUs: aws4fetchSigning.us,
      stream: {
        shortEvents: short.length,
        longEvents: long.length,
        sseShortUs,
        sseLongUs,
        binaryShortUs,
        binaryLongUs,
        ssePerEventUs: perEvent('sseLong', 'sseShort'),
        binaryPerEventUs: perEvent('binaryLong', 'binaryShort'),
        openAiShortUs,
        openAiLongUs,
        openAiPerEventUs: perEvent('openAiLong', 'openAiShort'),
        sseAboveFloorUs: aboveFloor('sseLong', 'sseShort'),
        openAiAboveFloorUs: aboveFloor('openAiLong', 'openAiShort'),
        anthropicShortUs: streams.anthropicShort.us,
        anthropicLongUs: streams.anthropicLong.us,
        anthropicPerEventUs: perEvent('anthropicLong', 'anthropicShort'),
        anthropicAboveFloorUs: aboveFloor('anthropicLong', 'anthropicShort'),
      },
      framing,
      framingLongStreamUs: framingLong.us / long.length,
      chunksLongStreamUs: chunksLong.us / long.length,
      converseBatchesUs,
    }
  } finally {
    globalThis.fetch = realFetch
  }
}

/**
 * `n` weighted Converse requests back to back (for measuring the process's CPU time around them, or profiling);
 * with `streamDeltas`, streamed requests of that many deltas answered as SSE — ConverseStream through the Bedrock
 * door, or (`door: 'anthropic'`) POST /v1/messages on the Claude pool, upstream InvokeModelWithResponseStream chunks.
 */
export async function runConverseOnly(n: number, streamDeltas?: number, door: 'bedrock' | 'anthropic' = 'bedrock'): Promise<number> {
  const realFetch = globalThis.fetch
  const frames = streamDeltas === undefined ? undefined : door === 'anthropic' ? invokeFrames(streamDeltas) : streamFrames(streamDeltas)
  globalThis.fetch = stubFetch(() => (frames ? { kind: 'stream', frames } : { kind: 'json' }))
  const path = !frames ? '/model/weighted/converse' : door === 'anthropic' ? '/v1/messages' : '/model/weighted/converse-stream'
  const body = frames && door === 'anthropic' ? ANTHROPIC_STREAM_BODY : REQUEST_BODY
  try {
    const store = new MemoryStateStore()
    const app = createApp({ stateStore: () => store })
    for (let i = 0; i < n; i++) {
      const res = await app.request(
        path,
        { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: frames ? 'text/event-stream' : 'application/json', 'content-length': String(utf8Length(body)) }, body },
        ENV,
        EXECUTION_CTX,
      )
      await res.arrayBuffer()
    }
    return n
  } finally {
    globalThis.fetch = realFetch
  }
}
