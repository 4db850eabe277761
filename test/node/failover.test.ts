/**
 * The failover matrix, end to end through the worker: each upstream error class × Converse and ConverseStream
 * × before and after the first byte reached the client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const MODEL = 'us.anthropic.claude-sonnet-4-6'
const CASES = 40
let h: Harness
let next = 0

beforeAll(async () => {
  // One pool per test, so breaker and cooldown state of one case never leaks into another.
  h = await startHarness((e) => {
    const pools: Record<string, unknown> = {}
    for (let i = 0; i < CASES; i++) {
      pools[`case${i}`] = {
        strategy: 'weighted',
        attemptTimeoutMs: 1500,
        ttfbTimeoutMs: 1500,
        breaker: { consecutiveFailures: 100 },
        deployments: [
          { id: `use1-${i}`, modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] },
          { id: `usw2-${i}`, modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
        ],
      }
    }
    pools.stall = {
      ttfbTimeoutMs: 20_000,
      streamIdleTimeoutMs: 600,
      deployments: [{ id: 'stall-use1', modelId: MODEL, region: 'us-east-1', endpoint: e['us-east-1'] }],
    }
    return { pools }
  })
})
afterAll(() => h?.close())
beforeEach(() => h.control('/__sim/reset', {}))

const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hi' }] }] })
function call(operation: 'converse' | 'converse-stream') {
  const pool = `case${next++}`
  return fetch(`${h.router.url}/model/${pool}/${operation}`, {
    method: 'POST',
    body,
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: operation === 'converse' ? 'application/json' : 'text/event-stream' },
  })
}
const regionsCalled = async () => ((await h.control('/__sim/requests')).requests as { region: string }[]).map((r) => r.region)

const failoverClasses: Array<[string, Record<string, unknown>, string]> = [
  ['ThrottlingException 429', { fault: 'throttle' }, 'throttled:ThrottlingException'],
  ['ModelNotReadyException 429', { fault: 'error', status: 429, errorType: 'ModelNotReadyException' }, 'unavailable:ModelNotReadyException'],
  ['InternalServerException 500', { fault: 'error', status: 500, errorType: 'InternalServerException' }, 'unavailable:InternalServerException'],
  ['ServiceUnavailableException 503', { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' }, 'unavailable:ServiceUnavailableException'],
  ['AccessDeniedException 403', { fault: 'error', status: 403, errorType: 'AccessDeniedException' }, 'misconfigured:AccessDeniedException'],
  ['ResourceNotFoundException 404', { fault: 'error', status: 404, errorType: 'ResourceNotFoundException' }, 'misconfigured:ResourceNotFoundException'],
  ['a stalled upstream (timeout)', { fault: 'stall' }, 'timeout:ModelTimeoutException'],
]

describe('before the first byte: fail over at once to another deployment', () => {
  for (const operation of ['converse', 'converse-stream'] as const) {
    for (const [name, rule, trace] of failoverClasses) {
      it(`${operation}: ${name}`, async () => {
        await h.control('/__sim/rules', { region: 'us-east-1', ...rule })
        const res = await call(operation)
        expect(res.status).toBe(200)
        expect(res.headers.get('x-router-region')).toBe('us-west-2')
        expect(res.headers.get('x-router-attempts')).toBe('2')
        expect(res.headers.get('x-router-failovers')).toMatch(new RegExp(`^use1-\\d+=${trace}$`))
        const text = await res.text()
        if (operation === 'converse') expect(JSON.parse(text).output.message.content[0].text).toMatch(/^Hello from us-west-2/)
        else expect(new SseParser().push(text).at(-1)!.event).toBe('metadata')
        expect(await regionsCalled()).toEqual(['us-east-1', 'us-west-2'])
      })
    }
  }

  const streamOnly: Array<[string, Record<string, unknown>, string]> = [
    ['an exception frame before any frame', { fault: 'exception', afterFrames: 0, exceptionType: 'throttlingException' }, 'throttled'],
    ['an exception frame after messageStart, before content', { fault: 'exception', afterFrames: 1, exceptionType: 'serviceUnavailableException' }, 'unavailable'],
    ['a connection cut before any content', { fault: 'cut', afterFrames: 1, partialBytes: 9 }, 'network'],
  ]
  for (const [name, rule, cls] of streamOnly) {
    it(`converse-stream: ${name}`, async () => {
      await h.control('/__sim/rules', { region: 'us-east-1', ...rule })
      const res = await call('converse-stream')
      expect(res.status).toBe(200)
      expect(res.headers.get('x-router-region')).toBe('us-west-2')
      expect(res.headers.get('x-router-failovers')).toMatch(new RegExp(`^use1-\\d+=${cls}`))
      const events = new SseParser().push(await res.text())
      expect(events.filter((e) => e.event === 'messageStart')).toHaveLength(1)
      expect(events.at(-1)!.event).toBe('metadata')
    })
  }
})

describe('client errors fail fast: relayed as they are, never retried elsewhere', () => {
  for (const operation of ['converse', 'converse-stream'] as const) {
    it(`${operation}: ValidationException 400`, async () => {
      await h.control('/__sim/rules', { region: 'us-east-1', fault: 'error', status: 400, errorType: 'ValidationException', message: 'The model returned the following errors: bad input' })
      const res = await call(operation)
      expect(res.status).toBe(400)
      expect(res.headers.get('x-amzn-errortype')).toMatch(/^ValidationException/)
      expect(await res.json()).toEqual({ message: 'The model returned the following errors: bad input' })
      expect(await regionsCalled()).toEqual(['us-east-1'])
    })
  }
  it('converse-stream: a validationException frame before content is answered as HTTP 400', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'exception', afterFrames: 0, exceptionType: 'validationException', message: 'too long' })
    const res = await call('converse-stream')
    expect(res.status).toBe(400)
    expect(res.headers.get('x-amzn-errortype')).toBe('ValidationException')
    expect(await regionsCalled()).toEqual(['us-east-1'])
  })
})

describe('after the first byte: an explicit error, never a silent truncation, no failover', () => {
  it('an exception frame mid-stream is relayed as event: error', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'exception', afterFrames: 3, exceptionType: 'throttlingException', message: 'slow down' })
    const res = await call('converse-stream')
    expect(res.headers.get('x-router-region')).toBe('us-east-1')
    const events = new SseParser().push(await res.text())
    expect(events.some((e) => e.event === 'contentBlockDelta')).toBe(true)
    expect(events.at(-1)).toMatchObject({ event: 'error' })
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ type: 'throttlingException', message: 'slow down' })
    expect(await regionsCalled()).toEqual(['us-east-1'])
  })

  it('a connection cut mid-stream ends with event: error', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'cut', afterFrames: 4 })
    const events = new SseParser().push(await (await call('converse-stream')).text())
    expect(events.at(-1)!.event).toBe('error')
    expect(events.map((e) => e.event)).not.toContain('metadata')
  })

  it('a stream that stalls after its first content ends with a timeout error after streamIdleTimeoutMs', async () => {
    // Upstream sends a frame every second: the first content arrives (commit), then silence outlasts the 600 ms bound.
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'delay', frameDelayMs: 1000 })
    const res = await fetch(`${h.router.url}/model/stall/converse-stream`, { method: 'POST', body, headers: { authorization: `Bearer ${CLIENT_KEY}`, accept: 'text/event-stream' } })
    const events = new SseParser().push(await res.text())
    expect(res.headers.get('x-router-deployment')).toBe('stall-use1')
    expect(events.some((e) => e.event === 'contentBlockDelta')).toBe(true)
    expect(events.map((e) => e.event)).not.toContain('metadata')
    expect(events.at(-1)!.event).toBe('error')
    expect(JSON.parse(events.at(-1)!.data).message).toMatch(/stalled/)
  })

  it('the binary stream gets an exception frame at the end', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'cut', afterFrames: 3, partialBytes: 11 })
    const pool = `case${next++}`
    const res = await fetch(`${h.router.url}/model/${pool}/converse-stream`, { method: 'POST', body, headers: { authorization: `Bearer ${CLIENT_KEY}` } })
    const { EventStreamFramer } = await import('../../src/wire/eventstream')
    const framer = new EventStreamFramer()
    const frames = framer.push(new Uint8Array(await res.arrayBuffer()))
    framer.end() // every byte the client got is whole frames
    expect(frames.at(-1)).toMatchObject({ messageType: 'exception', exceptionType: 'internalServerException' })
    expect(frames.slice(0, -1).every((f) => f.messageType === 'event')).toBe(true)
  })
})

describe('when nothing can serve', () => {
  it('every deployment failing → 503 NO_MODELS_AVAILABLE with Retry-After and the trace', async () => {
    await h.control('/__sim/rules', { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' })
    const res = await call('converse')
    expect(res.status).toBe(503)
    expect(res.headers.get('x-amzn-errortype')).toBe('ServiceUnavailableException')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(((await res.json()) as { message: string }).message).toContain('NO_MODELS_AVAILABLE')
    expect(res.headers.get('x-router-failovers')).toMatch(/^use1-\d+=unavailable:ServiceUnavailableException, usw2-\d+=unavailable:ServiceUnavailableException$/)
  })

  it('every deployment throttling → 429 ThrottlingException with Retry-After', async () => {
    await h.control('/__sim/rules', { fault: 'throttle' })
    const res = await call('converse-stream')
    expect(res.status).toBe(429)
    expect(res.headers.get('x-amzn-errortype')).toBe('ThrottlingException')
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})
