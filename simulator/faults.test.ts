import { describe, expect, it } from 'vitest'
import { createSimulator, type Simulator } from './handler'
import { BASE, NOVA, bearer, decodeFrames, errorTypeOf, readAll, userBody } from './test-helpers'

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

describe('fault rules: probability (seeded random faults)', () => {
  /** Statuses of `n` sequential Converse requests. */
  async function statuses(sim: Simulator, n: number, region = 'us-east-1'): Promise<number[]> {
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      const res = await conv(sim, region)
      await res.arrayBuffer()
      out.push(res.status)
    }
    return out
  }
  const control = (sim: Simulator, path: string, body?: unknown) =>
    sim.fetch(new Request(`${BASE}${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) }), 'us-east-1')

  it('probability 0.2 strikes about 20 % of 2,000 requests, the rest are served', async () => {
    const sim = createSimulator({ seed: 12345, rules: [{ fault: 'throttle', probability: 0.2 }] })
    const s = await statuses(sim, 2000)
    const struck = s.filter((x) => x === 429).length
    // Binomial(2000, 0.2): mean 400, sd √(2000·0.2·0.8) ≈ 17.9. ±4σ ([328, 472]) holds for a fair coin with
    // probability 1 − 6e-5; a biased or broken draw (e.g. every request, or none) lands far outside.
    expect(struck).toBeGreaterThanOrEqual(328)
    expect(struck).toBeLessThanOrEqual(472)
    expect(s.filter((x) => x === 200).length).toBe(2000 - struck)
    expect(sim.rules()[0]).toMatchObject({ hits: struck, remaining: null })
    expect(sim.stats()['us-east-1'][NOVA]).toMatchObject({ accepted: 2000 - struck, rejected: struck })
  })

  it('the same seed gives the same sequence; another seed a different one', async () => {
    const run = async (seed: number) => statuses(createSimulator({ seed, rules: [{ fault: 'throttle', probability: 0.3 }] }), 200)
    const a = await run(7)
    expect(await run(7)).toEqual(a)
    expect(await run(8)).not.toEqual(a)
  })

  it('reset restarts the sequence from the constructor seed, or from the seed it is given', async () => {
    const rule = { fault: 'throttle', probability: 0.5 } as const
    const sim = createSimulator({ seed: 99 })
    sim.addRule(rule)
    const first = await statuses(sim, 100)
    sim.reset()
    sim.addRule(rule)
    expect(await statuses(sim, 100)).toEqual(first)

    // Over HTTP: POST /__sim/reset {seed} and POST /__sim/config {seed}.
    const reset = await control(sim, '/__sim/reset', { seed: 5 })
    expect(await reset.json()).toEqual({ ok: true, seed: 5 })
    sim.addRule(rule)
    const five = await statuses(sim, 100)
    expect(five).not.toEqual(first)
    expect(await (await control(sim, '/__sim/config', { seed: 5 })).json()).toMatchObject({ seed: 5 })
    expect(await statuses(sim, 100)).toEqual(five) // setting the seed restarts its sequence
    expect(await (await control(sim, '/__sim/reset', {})).json()).toEqual({ ok: true, seed: 99 })
  })

  it('`times` counts only strikes: a request the rule lets through does not use it up', async () => {
    const sim = createSimulator({ seed: 3, rules: [{ fault: 'throttle', probability: 0.25, times: 5 }] })
    const s: number[] = []
    for (let i = 0; i < 1000 && sim.rules().length > 0; i++) {
      const struckBefore = s.filter((x) => x === 429).length
      s.push(...(await statuses(sim, 1)))
      const struck = s.filter((x) => x === 429).length
      if (sim.rules().length) expect(sim.rules()[0]).toMatchObject({ remaining: 5 - struck, hits: struck })
      expect(struck - struckBefore).toBeLessThanOrEqual(1)
    }
    expect(sim.rules()).toEqual([]) // used up (P(fewer than 5 strikes in 1,000 draws at 0.25) is nil)
    expect(s.filter((x) => x === 429)).toHaveLength(5)
    expect(s.length).toBeGreaterThan(5) // some requests passed without striking, before the fifth strike
    expect(s.at(-1)).toBe(429)
    expect((await statuses(sim, 20)).every((x) => x === 200)).toBe(true)
  })

  it('a request the rule does not strike goes on to later rules', async () => {
    const sim = createSimulator({
      seed: 11,
      rules: [
        { fault: 'throttle', probability: 0.5 },
        { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' },
      ],
    })
    const s = await statuses(sim, 200)
    expect(new Set(s)).toEqual(new Set([429, 503]))
    expect(sim.rules().map((r) => r.hits)).toEqual([s.filter((x) => x === 429).length, s.filter((x) => x === 503).length])
  })

  it('only rules with a probability below 1 draw: a certain rule elsewhere does not shift the sequence', async () => {
    const random = { fault: 'throttle', region: 'us-east-1', probability: 0.4 } as const
    const a = createSimulator({ seed: 21, rules: [random] })
    const b = createSimulator({ seed: 21, rules: [{ fault: 'error', region: 'us-west-2', status: 500, errorType: 'InternalServerException', probability: 1 }, random] })
    const sa: number[] = []
    const sb: number[] = []
    for (let i = 0; i < 100; i++) {
      sa.push(...(await statuses(a, 1)))
      sb.push(...(await statuses(b, 1)))
      expect(await statuses(b, 1, 'us-west-2')).toEqual([500])
    }
    expect(sb).toEqual(sa)
  })

  it('a slow but successful region: stall with ms and a probability holds some requests, then answers them', async () => {
    const sim = createSimulator({ seed: 4, rules: [{ fault: 'stall', ms: 80, probability: 0.5 }] })
    const times: number[] = []
    for (let i = 0; i < 20; i++) {
      const t0 = Date.now()
      const res = await conv(sim)
      expect(res.status).toBe(200)
      expect(((await res.json()) as any).output.message.content[0].text).toMatch(/^Hello from us-east-1/)
      times.push(Date.now() - t0)
    }
    const slow = times.filter((t) => t >= 75).length
    expect(slow).toBe(sim.rules()[0].hits)
    expect(slow).toBeGreaterThan(0)
    expect(slow).toBeLessThan(20)
  })

  it.each([0, -0.1, 1.5, '0.5', null, Number.NaN])('rejects probability %j with a clear error', (probability) => {
    expect(() => createSimulator().addRule({ fault: 'throttle', probability } as never)).toThrow(/rule.probability must be a number with 0 < probability <= 1/)
  })

  it('rejects a bad seed in config and reset, over HTTP with a 400', async () => {
    const sim = createSimulator()
    for (const [path, body] of [
      ['/__sim/config', { seed: -1 }],
      ['/__sim/config', { seed: 1.5 }],
      ['/__sim/reset', { seed: 'x' }],
      ['/__sim/reset', { seed: 2 ** 32 }],
    ] as const) {
      const res = await control(sim, path, body)
      expect(res.status).toBe(400)
      expect(((await res.json()) as { error: string }).error).toMatch(/config.seed must be an integer from 0 to 4294967295/)
    }
    const res = await control(sim, '/__sim/reset', { sede: 1 })
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'unknown reset key: sede' })
  })
})

describe('reset, garbage and corrupt', () => {
  it('are accepted (corrupt needs afterFrames and a stream), and refused when malformed', async () => {
    const { validateRule } = await import('./faults')
    expect(validateRule({ fault: 'reset' })).toMatchObject({ fault: 'reset' })
    expect(validateRule({ fault: 'garbage', body: 'oops' })).toMatchObject({ fault: 'garbage' })
    expect(() => validateRule({ fault: 'garbage', body: 5 })).toThrow(/body must be a string/)
    expect(() => validateRule({ fault: 'corrupt' })).toThrow(/afterFrames is required/)
    expect(() => validateRule({ fault: 'corrupt', afterFrames: 1, operation: 'converse' })).toThrow(/streams only/)
  })
})
