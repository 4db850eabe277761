import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { DEMO_API_KEY, startSimulator, type RunningSimulator } from './node-server'
import { NOVA, PROFILE_ARN, client, decodeFrames, modelUrl, userBody } from './test-helpers'

let sim: RunningSimulator
const regions = ['us-east-1', 'us-west-2', 'eu-west-1']
const aws = (region = 'us-east-1') => client({ region })

const post = (url: string, body: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, signal })
const control = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') => {
  const res = await fetch(`${sim.controlUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, json: (await res.json()) as any }
}

beforeAll(async () => {
  sim = await startSimulator({ regions })
})
afterAll(async () => {
  await sim.close()
})
beforeEach(async () => {
  expect((await control('/__sim/rules', undefined, 'DELETE')).status).toBe(200)
})

describe('node server', () => {
  it('listens on one loopback port per region', () => {
    expect(Object.keys(sim.endpoints)).toEqual(regions)
    const ports = Object.values(sim.endpoints).map((u) => new URL(u).port)
    expect(new Set(ports).size).toBe(3)
    for (const u of Object.values(sim.endpoints)) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(sim.controlUrl).toBe(sim.endpoints['us-east-1'])
  })

  it.each([NOVA, PROFILE_ARN])('accepts aws4fetch-signed requests over HTTP for %s, per region', async (modelId) => {
    for (const region of regions) {
      const res = await aws(region).fetch(modelUrl(modelId, false, sim.endpoints[region]), { method: 'POST', body: userBody() })
      expect(res.status).toBe(200)
      expect(((await res.json()) as any).output.message.content[0].text).toBe(`Hello from ${region} (model ${modelId}).`)
    }
  })

  it('rejects a request signed for another region at this region', async () => {
    const res = await aws('us-west-2').fetch(modelUrl(NOVA, false, sim.endpoints['us-east-1']), { method: 'POST', body: userBody() })
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toMatch(/^InvalidSignatureException:/)
  })

  it('accepts the demo API key', async () => {
    const res = await post(modelUrl(NOVA, false, sim.endpoints['eu-west-1']), userBody(), { authorization: `Bearer ${DEMO_API_KEY}` })
    expect(res.status).toBe(200)
  })

  it('streams frame by frame (not buffered)', async () => {
    await control('/__sim/config', { frameDelayMs: 80 })
    const res = await aws().fetch(modelUrl(NOVA, true, sim.endpoints['us-east-1']), { method: 'POST', body: userBody() })
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    const reader = res.body!.getReader()
    const t0 = Date.now()
    const first = await reader.read()
    expect(Date.now() - t0).toBeLessThan(60)
    expect(decodeFrames(first.value!)[0].headers[':event-type']).toBe('messageStart')
    const chunks = [first.value!]
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5 * 80)
    const all = Buffer.concat(chunks)
    expect(decodeFrames(all).at(-1)!.headers[':event-type']).toBe('metadata')
  })

  it('a cut stream reaches the client as a truncated body', async () => {
    await control('/__sim/rules', { fault: 'cut', afterFrames: 2, partialBytes: 5 })
    const res = await aws().fetch(modelUrl(NOVA, true, sim.endpoints['us-east-1']), { method: 'POST', body: userBody() })
    expect(res.status).toBe(200)
    const got: number[] = []
    const reader = res.body!.getReader()
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) return
          got.push(...value)
        }
      })(),
    ).rejects.toThrow()
    expect(() => decodeFrames(Uint8Array.from(got))).toThrow(/truncated/)
  })

  it('a client disconnect cancels the stream (no more frames are produced)', async () => {
    await control('/__sim/config', { frameDelayMs: 30, responseChars: 3000 })
    const ac = new AbortController()
    const res = await aws().fetch(modelUrl(NOVA, true, sim.endpoints['us-east-1']), { method: 'POST', body: userBody(), signal: ac.signal })
    const reader = res.body!.getReader()
    for (let i = 0; i < 3; i++) await reader.read()
    ac.abort()
    await new Promise((r) => setTimeout(r, 150))
    const { json } = await control('/__sim/stats')
    const stats = json['us-east-1'][NOVA]
    expect(stats.accepted).toBe(1)
    // settled with what was produced before the disconnect: far less than the full 750 output tokens
    expect(stats.outputTokens).toBeGreaterThan(0)
    expect(stats.outputTokens).toBeLessThan(100)
  })

  it('a stall ends when the client aborts; close() does not hang on it', async () => {
    await control('/__sim/rules', { fault: 'stall', region: 'us-west-2' })
    const ac = new AbortController()
    const pending = post(modelUrl(NOVA, false, sim.endpoints['us-west-2']), userBody(), { authorization: `Bearer ${DEMO_API_KEY}` }, ac.signal)
    await new Promise((r) => setTimeout(r, 50))
    ac.abort()
    await expect(pending).rejects.toThrow()
    await new Promise((r) => setTimeout(r, 50))
    const { json } = await control('/__sim/requests?region=us-west-2')
    expect(json.requests.at(-1)).toMatchObject({ status: 499, errorType: 'RequestAborted' })

    const other = await startSimulator({ regions: ['us-east-1'], rules: [{ fault: 'stall' }] })
    const hanging = post(modelUrl(NOVA, false, other.endpoints['us-east-1']), userBody(), { authorization: `Bearer ${DEMO_API_KEY}` }).catch((e) => e)
    await new Promise((r) => setTimeout(r, 50))
    const t0 = Date.now()
    await other.close()
    expect(Date.now() - t0).toBeLessThan(1000)
    expect(await hanging).toBeInstanceOf(Error)
  })
})

describe('control API over HTTP', () => {
  it('adds, lists and deletes rules; rejects invalid ones', async () => {
    const bad = await control('/__sim/rules', { fault: 'nope' })
    expect(bad.status).toBe(400)
    expect(bad.json.error).toMatch(/rule.fault/)
    const { json } = await control('/__sim/rules', { fault: 'throttle', region: 'eu-west-1', times: 1, retryAfterSeconds: 2 })
    expect(json.id).toMatch(/^rule-/)
    expect((await control('/__sim/rules')).json.rules).toEqual([
      { fault: 'throttle', region: 'eu-west-1', times: 1, retryAfterSeconds: 2, id: json.id, remaining: 1, hits: 0 },
    ])
    const res = await post(modelUrl(NOVA, false, sim.endpoints['eu-west-1']), userBody(), { authorization: `Bearer ${DEMO_API_KEY}` })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('2')
    const ids = (await control('/__sim/rules', [{ fault: 'throttle' }, { fault: 'stall', ms: 1, id: 'mine' }])).json.ids
    expect(ids).toEqual([expect.stringMatching(/^rule-/), 'mine'])
    expect((await control('/__sim/rules/mine', undefined, 'DELETE')).json).toEqual({ removed: true })
    expect((await control('/__sim/rules/mine', undefined, 'DELETE')).status).toBe(404)
    expect((await control('/__sim/rules', undefined, 'DELETE')).json).toEqual({ ok: true })
    expect((await control('/__sim/rules')).json.rules).toEqual([])
  })

  it('reports stats and requests without the Authorization header', async () => {
    await aws('us-west-2').fetch(modelUrl(NOVA, false, sim.endpoints['us-west-2']), { method: 'POST', body: userBody('recorded') })
    const stats = (await control('/__sim/stats')).json
    expect(stats['us-west-2'][NOVA]).toMatchObject({ accepted: 1, rejected: 0, windowRequests: 1, inputTokens: 2 })
    const res = await fetch(`${sim.controlUrl}/__sim/requests?region=us-west-2&limit=5`)
    const text = await res.text()
    expect(text).not.toMatch(/Signature=|AWS4-HMAC-SHA256 Credential/)
    const [rec] = JSON.parse(text).requests
    expect(rec).toMatchObject({ region: 'us-west-2', modelId: NOVA, operation: 'converse', status: 200, auth: { scheme: 'sigv4', service: 'bedrock' } })
    expect(rec.body.messages[0].content[0].text).toBe('recorded')
    expect(rec.headers['x-amz-date']).toBeDefined()
    expect(rec.headers.authorization).toBeUndefined()
    // in process, the raw header is still there for assertions
    expect(sim.simulator.requests({ region: 'us-west-2' }).at(-1)!.authorization).toMatch(/^AWS4-HMAC-SHA256 /)
  })

  it('changes and resets config; unknown routes are 404', async () => {
    expect((await control('/__sim/config', { responseChars: 64 })).json.responseChars).toBe(64)
    expect((await control('/__sim/config', { bogus: 1 })).status).toBe(400)
    const res = await post(modelUrl(NOVA, false, sim.endpoints['us-east-1']), userBody(), { authorization: `Bearer ${DEMO_API_KEY}` })
    expect(((await res.json()) as any).output.message.content[0].text).toHaveLength(64)
    await control('/__sim/rules', undefined, 'DELETE')
    expect((await control('/__sim/config')).json.responseChars).toBeUndefined()
    expect((await control('/__sim/nope')).status).toBe(404)
    expect((await control('/__sim/health')).json).toMatchObject({ ok: true, region: 'us-east-1' })
  })
})
