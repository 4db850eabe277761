import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { NOVA, bearer, decodeFrames, errorTypeOf, readAll, userBody } from './test-helpers'

const conv = (sim: Simulator, region = 'us-east-1', modelId = NOVA, init?: { signal?: AbortSignal }) => {
  const req = bearer(modelId)
  return sim.fetch(init?.signal ? new Request(req, { signal: init.signal }) : req, region)
}
const streamReq = (sim: Simulator, region = 'us-east-1', modelId = NOVA) => sim.fetch(bearer(modelId, userBody(), undefined, true), region)
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

/** Reads until the stream ends or errors; returns the bytes received and the error, if any. */
async function drain(body: ReadableStream<Uint8Array>): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const reader = body.getReader()
  const parts: number[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { bytes: Uint8Array.from(parts) }
      parts.push(...value)
    }
  } catch (error) {
    return { bytes: Uint8Array.from(parts), error }
  }
}

describe('fault rules: errors before the response', () => {
  it('throttles the next N matching requests, then serves again', async () => {
    const sim = createSimulator()
    sim.addRule({ fault: 'throttle', times: 2 })
    for (let i = 0; i < 2; i++) {
      const res = await conv(sim)
      expect(res.status).toBe(429)
      expect(res.headers.get('x-amzn-errortype')).toBe('ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/')
      expect(await res.json()).toEqual({ message: 'Too many requests, please wait before trying again.' })
      expect(res.headers.get('retry-after')).toBeNull()
    }
    expect((await conv(sim)).status).toBe(200)
    expect(sim.rules()).toEqual([])
    expect(sim.stats()['us-east-1'][NOVA]).toMatchObject({ accepted: 1, rejected: 2, errors: { ThrottlingException: 2 } })
  })

  it.each([
    [503, 'ServiceUnavailableException'],
    [500, 'InternalServerException'],
    [429, 'ModelNotReadyException'],
    [403, 'AccessDeniedException'],
    [400, 'ValidationException'],
  ])('fails with %i %s (always, until removed)', async (status, errorType) => {
    const sim = createSimulator()
    const id = sim.addRule({ fault: 'error', status, errorType })
    for (let i = 0; i < 3; i++) {
      const res = await conv(sim)
      expect(res.status).toBe(status)
      expect(errorTypeOf(res)).toBe(errorType)
      expect(((await res.json()) as any).message.length).toBeGreaterThan(5)
    }
    expect(sim.removeRule(id)).toBe(true)
    expect((await conv(sim)).status).toBe(200)
  })

  it('adds Retry-After and a custom message', async () => {
    const sim = createSimulator({ rules: [{ fault: 'error', status: 503, errorType: 'ServiceUnavailableException', message: 'down', retryAfterSeconds: 7 }] })
    const res = await conv(sim)
    expect(res.headers.get('retry-after')).toBe('7')
    expect(await res.json()).toEqual({ message: 'down' })
  })

  it('matches by region, model (exact or prefix*) and operation', async () => {
    const sim = createSimulator()
    sim.addRule({ fault: 'throttle', region: 'us-east-1', modelId: NOVA })
    sim.addRule({ fault: 'throttle', modelId: 'anthropic.*', operation: 'converse-stream' })
    expect((await conv(sim, 'us-east-1')).status).toBe(429)
    expect((await conv(sim, 'us-west-2')).status).toBe(200)
    expect((await conv(sim, 'us-east-1', 'us.amazon.nova-pro-v1:0')).status).toBe(200)
    expect((await conv(sim, 'us-west-2', 'anthropic.claude-x')).status).toBe(200)
    expect((await streamReq(sim, 'us-west-2', 'anthropic.claude-x')).status).toBe(429)
  })
})

describe('fault rules: stall', () => {
  it('delays the response headers by ms, then answers normally', async () => {
    const sim = createSimulator({ rules: [{ fault: 'stall', ms: 150, times: 1 }] })
    const t0 = Date.now()
    const res = await conv(sim)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(145)
    expect(res.status).toBe(200)
    const t1 = Date.now()
    await conv(sim)
    expect(Date.now() - t1).toBeLessThan(100)
  })

  it('stalls until the client aborts, and leaves no timer behind', async () => {
    const sim = createSimulator({ rules: [{ fault: 'stall', ms: 60_000 }] })
    const before = activeTimers()
    const ac = new AbortController()
    const pending = conv(sim, 'us-east-1', NOVA, { signal: ac.signal })
    await new Promise((r) => setTimeout(r, 30))
    expect(activeTimers()).toBe(before + 1)
    ac.abort()
    const res = await pending
    expect(res.status).toBe(499)
    expect(activeTimers()).toBe(before)
    expect(sim.requests().at(-1)!.status).toBe(499)
  })

  it('stalls forever without a timer; close() releases it', async () => {
    const sim = createSimulator({ rules: [{ fault: 'stall' }] })
    const before = activeTimers()
    let settled = false
    const pending = conv(sim).then((r) => ((settled = true), r))
    await new Promise((r) => setTimeout(r, 50))
    expect(settled).toBe(false)
    expect(activeTimers()).toBe(before)
    sim.close()
    expect((await pending).status).toBe(499)
  })
})

describe('fault rules: streams', () => {
  it('cuts the connection after K frames (the body errors)', async () => {
    const sim = createSimulator({ rules: [{ fault: 'cut', afterFrames: 3 }] })
    const res = await streamReq(sim)
    expect(res.status).toBe(200)
    const { bytes, error } = await drain(res.body!)
    expect(error).toBeInstanceOf(Error)
    expect(decodeFrames(bytes).map((f) => f.headers[':event-type'])).toEqual(['messageStart', 'contentBlockDelta', 'contentBlockDelta'])
    expect(sim.stats()['us-east-1'][NOVA].streamsCut).toBe(1)
  })

  it('can cut in the middle of a frame', async () => {
    const sim = createSimulator({ rules: [{ fault: 'cut', afterFrames: 1, partialBytes: 10 }] })
    const { bytes, error } = await drain((await streamReq(sim)).body!)
    expect(error).toBeDefined()
    const first = new DataView(bytes.buffer).getUint32(0)
    expect(bytes.length).toBe(first + 10)
    expect(() => decodeFrames(bytes)).toThrow(/truncated/)
  })

  it('sends an exception frame after K frames, then ends the stream', async () => {
    const sim = createSimulator({ rules: [{ fault: 'exception', afterFrames: 2 }] })
    const { bytes, error } = await drain((await streamReq(sim)).body!)
    expect(error).toBeUndefined()
    const frames = decodeFrames(bytes)
    expect(frames).toHaveLength(3)
    const ex = frames[2]
    expect(ex.headerNames).toEqual([':exception-type', ':content-type', ':message-type'])
    expect(ex.headers).toEqual({ ':exception-type': 'throttlingException', ':content-type': 'application/json', ':message-type': 'exception' })
    expect(ex.payload.message).toMatch(/^Too many requests, please wait before trying again/)
    expect(sim.stats()['us-east-1'][NOVA].streamExceptions).toBe(1)
  })

  it('sends other exception types with a custom message', async () => {
    const sim = createSimulator({ rules: [{ fault: 'exception', afterFrames: 0, exceptionType: 'modelStreamErrorException', message: 'boom' }] })
    const frames = decodeFrames((await readAll((await streamReq(sim)).body!)).bytes)
    expect(frames).toHaveLength(1)
    expect(frames[0].headers[':exception-type']).toBe('modelStreamErrorException')
    expect(frames[0].payload).toEqual({ message: 'boom' })
  })

  it('delays the first frame after the headers', async () => {
    const sim = createSimulator({ rules: [{ fault: 'delay', firstFrameMs: 150 }] })
    const t0 = Date.now()
    const res = await streamReq(sim)
    expect(Date.now() - t0).toBeLessThan(100)
    const reader = res.body!.getReader()
    await reader.read()
    expect(Date.now() - t0).toBeGreaterThanOrEqual(145)
    await reader.cancel()
  })

  it('cancelling a delayed stream clears its timer', async () => {
    const sim = createSimulator({ rules: [{ fault: 'delay', firstFrameMs: 60_000 }] })
    const before = activeTimers()
    const reader = (await streamReq(sim)).body!.getReader()
    const read = reader.read()
    await new Promise((r) => setTimeout(r, 20))
    expect(activeTimers()).toBe(before + 1)
    await reader.cancel()
    expect((await read).done).toBe(true)
    expect(activeTimers()).toBe(before)
  })

  it('stream-only rules neither affect nor get used up by Converse', async () => {
    const sim = createSimulator({ rules: [{ fault: 'cut', afterFrames: 0, times: 1 }] })
    expect((await conv(sim)).status).toBe(200)
    expect(sim.rules()[0]).toMatchObject({ fault: 'cut', remaining: 1, hits: 0 })
    const { error } = await drain((await streamReq(sim)).body!)
    expect(error).toBeDefined()
    expect(sim.rules()).toEqual([])
  })
})

describe('rule validation', () => {
  it.each([
    [{ fault: 'explode' }, /rule.fault/],
    [{ fault: 'error', status: 503 }, /errorType is required/],
    [{ fault: 'error', status: 200, errorType: 'X' }, /status is invalid/],
    [{ fault: 'cut' }, /afterFrames is required/],
    [{ fault: 'throttle', times: 0 }, /times/],
    [{ fault: 'stall', ms: -1 }, /ms is invalid/],
  ])('rejects %j', (rule, message) => {
    expect(() => createSimulator().addRule(rule as never)).toThrow(message)
  })
})
