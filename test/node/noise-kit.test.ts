/** The noise tests' own machinery: outcome reading, refusal origins, the binomial tolerance, the load runner. */
import { describe, expect, it } from 'vitest'
import { encodeEventFrame, encodeExceptionFrame } from '../../src/wire/eventstream'
import { binomialTolerance, binomialUpperTail, errorOrigin, readOutcome, runLoad, summarise, type RequestResult } from './noise-kit'

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) out.set(p, (at += p.length) - p.length)
  return out
}
const start = encodeEventFrame('messageStart', '{"role":"assistant"}')
const delta = encodeEventFrame('contentBlockDelta', '{"contentBlockIndex":0,"delta":{"text":"Hi"}}')
const stop = encodeEventFrame('messageStop', '{"stopReason":"end_turn"}')
const metadata = encodeEventFrame('metadata', '{"usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}')
const binary = (bytes: Uint8Array, status = 200) => new Response(bytes as Uint8Array<ArrayBuffer>, { status, headers: { 'content-type': 'application/vnd.amazon.eventstream' } })
const sse = (text: string) => new Response(text, { headers: { 'content-type': 'text/event-stream' } })

describe('readOutcome: served, a well-formed error, or malformed', () => {
  it('Converse', async () => {
    const ok = { output: { message: { role: 'assistant', content: [{ text: 'Hello' }] } }, stopReason: 'end_turn' }
    expect(await readOutcome(Response.json(ok), 'json')).toEqual({ kind: 'served' })
    expect((await readOutcome(Response.json({ output: {} }), 'json')).kind).toBe('malformed')
  })

  it('HTTP errors need x-amzn-errortype and a JSON message', async () => {
    const err = new Response('{"message":"slow down"}', { status: 429, headers: { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/' } })
    expect(await readOutcome(err, 'binary')).toEqual({ kind: 'error', status: 429, errorType: 'ThrottlingException', message: 'slow down', via: 'http' })
    expect((await readOutcome(new Response('{"message":"x"}', { status: 503 }), 'json')).kind).toBe('malformed')
    expect((await readOutcome(new Response('oops', { status: 500, headers: { 'x-amzn-errortype': 'InternalServerException' } }), 'json')).kind).toBe('malformed')
  })

  it('binary event stream: whole, ended by an exception frame, or silently truncated', async () => {
    expect(await readOutcome(binary(concat(start, delta, stop, metadata)), 'binary')).toEqual({ kind: 'served' })
    expect(await readOutcome(binary(concat(start, delta, encodeExceptionFrame('throttlingException', 'slow'))), 'binary')).toEqual({
      kind: 'error',
      status: 200,
      errorType: 'throttlingException',
      message: 'slow',
      via: 'exception-frame',
    })
    const clean = await readOutcome(binary(concat(start, delta)), 'binary')
    expect(clean).toMatchObject({ kind: 'malformed', detail: expect.stringMatching(/silent truncation/) })
    const cut = await readOutcome(binary(concat(start, delta.subarray(0, 9))), 'binary')
    expect(cut).toMatchObject({ kind: 'malformed', detail: expect.stringMatching(/does not frame/) })
    expect((await readOutcome(binary(concat(start, encodeExceptionFrame('internalServerException', 'x'), delta)), 'binary')).kind).toBe('malformed')
  })

  it('SSE: whole, ended by event: error, or silently truncated', async () => {
    const ev = (name: string, data: string) => `event: ${name}\ndata: ${data}\n\n`
    const whole = ev('messageStart', '{}') + ev('contentBlockDelta', '{}') + ev('messageStop', '{}') + ev('metadata', '{}')
    expect(await readOutcome(sse(whole), 'sse')).toEqual({ kind: 'served' })
    expect(await readOutcome(sse(ev('messageStart', '{}') + ev('error', '{"type":"internalServerException","message":"cut"}')), 'sse')).toEqual({
      kind: 'error',
      status: 200,
      errorType: 'internalServerException',
      message: 'cut',
      via: 'sse-error',
    })
    expect(await readOutcome(sse(ev('messageStart', '{}') + ev('contentBlockDelta', '{}')), 'sse')).toMatchObject({ kind: 'malformed', detail: expect.stringMatching(/silent truncation/) })
    expect((await readOutcome(sse(ev('messageStart', '{}') + 'event: contentBlockDelta\ndata: {'), 'sse')).kind).toBe('malformed')
    expect((await readOutcome(sse(ev('error', '{"message":"no type"}')), 'sse')).kind).toBe('malformed')
  })
})

describe('errorOrigin: router-made refusals vs relayed upstream errors', () => {
  it.each([
    ['Too many requests: every deployment is at its configured limit: use1: rpm 10 window full for 2.3 s.', 'window-full'],
    ['Too many requests: the request exceeds the configured limits of every deployment: use1: the request exceeds its tpm 100.', 'window-full'],
    ["Too many requests: the wait for configured capacity is longer than this request's deadline (queued 900 ms for window room).", 'queue-deadline'],
    ['Throttled upstream on every attempt of pool p, 3 attempts: use1=throttled:ThrottlingException.', 'exhausted'],
    ['NO_MODELS_AVAILABLE: pool p: every attempt failed upstream, 3 attempts: use1=unavailable:ServiceUnavailableException.', 'exhausted'],
    ['NO_MODELS_AVAILABLE: no deployment can take the request: use1: misconfigured (AccessDeniedException), next probe in 8.0 s.', 'no-models'],
    ['noise-sim: random throttle', 'upstream'],
    ['Too many requests, please wait before trying again.', 'other'],
  ])('%s → %s', (message, origin) => expect(errorOrigin(message)).toBe(origin))
})

describe('binomialTolerance: how far a router as good as the baseline can trail it by chance', () => {
  it('matches values computed independently (exact convolution in Python)', () => {
    expect(binomialTolerance(150, 0.008, 1e-4)).toBe(6)
    expect(binomialTolerance(200, 0.008, 1e-4)).toBe(7)
    expect(binomialTolerance(300, 0.008, 1e-4)).toBe(9)
    expect(binomialTolerance(300, 0.008, 1e-3)).toBe(7)
    expect(binomialTolerance(300, 0.03 ** 3, 1e-4)).toBe(1)
    expect(binomialUpperTail(300, 0.008, 9)).toBeCloseTo(1.846e-4, 6)
    expect(binomialUpperTail(200, 0.008, 6)).toBeCloseTo(1.254e-3, 5)
  })

  it('is 0 when neither can fail, and grows with the failure probability', () => {
    expect(binomialTolerance(300, 0, 1e-4)).toBe(0)
    const ks = [0.001, 0.01, 0.05, 0.2].map((q) => binomialTolerance(300, q, 1e-4))
    expect([...ks].sort((a, b) => a - b)).toEqual(ks)
    expect(ks[3]).toBeGreaterThan(ks[0])
  })
})

describe('summarise', () => {
  const result = (kind: 'served' | 'error', tried: string[], message = 'noise-sim: x'): RequestResult => ({
    outcome: kind === 'served' ? { kind } : { kind, status: 503, errorType: 'ServiceUnavailableException', message, via: 'http' },
    attempts: tried.length,
    tried,
    startedAt: 0,
  })
  const deployments = { d1: 'us-east-1', d2: 'us-west-2', d3: 'eu-west-1' }

  it('counts a refusal with an untried region that could serve, not one after every region failed', () => {
    const s = summarise(
      [
        result('served', ['d1']),
        result('error', ['d1', 'd2', 'd3']), // every region tried: nothing else could serve
        result('error', [], 'NO_MODELS_AVAILABLE: none usable'), // refused without trying
        result('error', ['d2', 'd3'], 'NO_MODELS_AVAILABLE: x'), // only d1 untried, and it is down
      ],
      deployments,
      new Set(['us-east-1']),
    )
    expect(s).toMatchObject({ n: 4, served: 1, refusedWhileServable: 1, byOrigin: { upstream: 1, 'no-models': 2 }, attemptsMax: 3 })
    expect(s.attemptsHistogram).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1 })
  })
})

describe('runLoad', () => {
  it('keeps at most `concurrency` in flight and returns results in request order', async () => {
    let inFlight = 0
    let peak = 0
    const out = await runLoad(50, 8, async (i) => {
      peak = Math.max(peak, ++inFlight)
      await new Promise((r) => setTimeout(r, (i * 7) % 5))
      inFlight--
      return i
    })
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(peak).toBe(8)
  })
})
