import { describe, expect, it } from 'vitest'
import { createSimulator } from './handler'
import { NOVA, bearer, readAll, userBody } from './test-helpers'

function clockedSim(extra: Parameters<typeof createSimulator>[0] = {}) {
  let t = 1_000_000
  const sim = createSimulator({ now: () => t, ...extra })
  return { sim, advance: (ms: number) => (t += ms) }
}
// 'Hi there' = 8 chars = 2 input tokens
const ask = (maxTokens?: number) => userBody('Hi there', maxTokens ? { inferenceConfig: { maxTokens } } : {})
const conv = async (sim: ReturnType<typeof createSimulator>, body = ask(100), region = 'us-east-1', modelId = NOVA) => {
  const res = await sim.fetch(bearer(modelId, body), region)
  return { status: res.status, json: (await res.json()) as any }
}

describe('quotas (sliding 60 s window, injected clock)', () => {
  it('enforces rpm per region+model and frees slots as the window slides', async () => {
    const { sim, advance } = clockedSim({ quotas: [{ modelId: NOVA, rpm: 2 }] })
    expect((await conv(sim)).status).toBe(200)
    advance(30_000)
    expect((await conv(sim)).status).toBe(200)
    const third = await conv(sim)
    expect(third).toEqual({ status: 429, json: { message: 'Too many requests, please wait before trying again.' } })
    expect((await conv(sim, ask(100), 'us-west-2')).status).toBe(200) // other region: own window
    expect((await conv(sim, ask(100), 'us-east-1', 'other.model')).status).toBe(200) // other model: no quota
    advance(30_001) // the first request leaves the window
    expect((await conv(sim)).status).toBe(200)
    expect((await conv(sim)).status).toBe(429)
    expect(sim.stats()['us-east-1'][NOVA]).toMatchObject({ accepted: 3, rejected: 2, errors: { ThrottlingException: 2 }, windowRequests: 2 })
  })

  it('reserves input + maxTokens at the start and settles to input + output at the end', async () => {
    const { sim } = clockedSim({ quotas: [{ modelId: NOVA, tpm: 1000 }] })
    // An open stream holds its reservation: 2 + 600.
    const open = await sim.fetch(bearer(NOVA, ask(600), undefined, true), 'us-east-1')
    expect(open.status).toBe(200)
    expect(sim.stats()['us-east-1'][NOVA].windowTokens).toBe(602)
    const second = await conv(sim, ask(600))
    expect(second).toEqual({ status: 429, json: { message: 'Too many tokens, please wait before trying again.' } })
    const frames = await readAll(open.body!)
    expect(frames.bytes.length).toBeGreaterThan(0)
    const output = Math.ceil(`Hello from us-east-1 (model ${NOVA}).`.length / 4)
    expect(sim.stats()['us-east-1'][NOVA].windowTokens).toBe(2 + output)
    expect((await conv(sim, ask(600))).status).toBe(200)
  })

  it('reserves the default cap when maxTokens is unset', async () => {
    const { sim } = clockedSim({ quotas: [{ tpm: 4000 }] })
    expect((await conv(sim, ask())).status).toBe(429) // 2 + 4096 > 4000
    expect((await conv(sim, ask(3000))).status).toBe(200)
    sim.setQuota({ tpm: 4000, defaultMaxTokens: 500 })
    expect((await conv(sim, ask(), 'us-east-1', 'm2')).status).toBe(200)
    const { sim: small } = clockedSim({ quotas: [{ tpm: 1000 }], defaultMaxTokens: 900 })
    expect((await conv(small, ask())).status).toBe(200)
  })

  it('applies the output burndown rate at settlement', async () => {
    const { sim } = clockedSim({ quotas: [{ modelId: NOVA, tpm: 100_000, burndown: 5 }] })
    const { json } = await conv(sim, ask(1000))
    expect(sim.stats()['us-east-1'][NOVA].windowTokens).toBe(json.usage.inputTokens + 5 * json.usage.outputTokens)
  })

  it('settles a cut stream to the output actually sent', async () => {
    const { sim } = clockedSim({ responseChars: 400, rules: [{ fault: 'cut', afterFrames: 3 }] })
    const res = await sim.fetch(bearer(NOVA, ask(1000), undefined, true), 'us-east-1')
    await readAll(res.body!).catch(() => undefined)
    const s = sim.stats()['us-east-1'][NOVA]
    expect(s.streamsCut).toBe(1)
    expect(s.outputTokens).toBeGreaterThan(0)
    expect(s.outputTokens).toBeLessThan(100)
    expect(s.windowTokens).toBe(2 + s.outputTokens)
  })

  it('does not count throttled or faulted requests against the quota', async () => {
    const { sim, advance } = clockedSim({ quotas: [{ rpm: 1 }], rules: [{ fault: 'throttle', times: 1 }] })
    expect((await conv(sim)).status).toBe(429)
    expect((await conv(sim)).status).toBe(200)
    expect((await conv(sim)).status).toBe(429)
    advance(60_001)
    expect((await conv(sim)).status).toBe(200)
  })

  it('can be driven over the control API (quota + clock)', async () => {
    const { sim } = clockedSim()
    const post = (path: string, body: unknown) =>
      sim.fetch(new Request(`http://sim${path}`, { method: 'POST', body: JSON.stringify(body) }), 'us-east-1')
    const q = await post('/__sim/quota', { region: 'us-east-1', modelId: NOVA, rpm: 1 })
    expect(q.status).toBe(200)
    expect(((await q.json()) as any).id).toMatch(/^quota-/)
    expect((await post('/__sim/quota', { rpm: 'many' })).status).toBe(400)
    expect((await conv(sim)).status).toBe(200)
    expect((await conv(sim)).status).toBe(429)
    const clock = await post('/__sim/clock', { advanceMs: 61_000 })
    expect(((await clock.json()) as any).now).toBe(1_061_000)
    expect((await conv(sim)).status).toBe(200)
  })
})

describe('QuotaTracker window bookkeeping (running sums against a recount)', () => {
  it('matches a brute-force recount through reserves, settles before and after expiry, and compaction', async () => {
    const { QuotaTracker, WINDOW_MS } = await import('./quota')
    let t = 0
    const q = new QuotaTracker(() => t, () => 100)
    q.add({ modelId: 'm', burndown: 0.5 })
    const all: Array<{ t: number; tokens: () => number; r: import('./quota').Reservation }> = []
    let seed = 7
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let i = 0; i < 5000; i++) {
      t += Math.floor(rnd() * 40) // a few thousand entries live at once, so the dead prefix is compacted many times
      const res = q.reserve('r', 'm', 1 + Math.floor(rnd() * 50), rnd() < 0.5 ? undefined : Math.floor(rnd() * 300))
      if (!res.ok) throw new Error('no quota: every reserve succeeds')
      all.push({ t, tokens: () => res.reservation.entry.tokens, r: res.reservation })
      // Settle a random earlier reservation, live or already out of the window.
      if (rnd() < 0.6) {
        const pick = all[Math.floor(rnd() * all.length)]
        q.settle(pick.r, Math.floor(rnd() * 50), Math.floor(rnd() * 300))
      }
      if (i % 97 === 0) {
        const live = all.filter((e) => e.t > t - WINDOW_MS)
        const w = q.window('r', 'm')
        expect(w.requests).toBe(live.length)
        expect(w.tokens).toBeCloseTo(live.reduce((n, e) => n + e.tokens(), 0), 6)
      }
    }
    t += WINDOW_MS + 1
    expect(q.window('r', 'm')).toEqual({ requests: 0, tokens: 0 })
  })
})
