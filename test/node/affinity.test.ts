/**
 * Prompt-cache affinity through the worker, against the simulator's per-deployment prompt caches: an agent's
 * conversation (a long system prompt, a breakpoint after it and after the newest message) stays on the deployment
 * that has its prefix cached, turn after turn — so every turn after the first reads the previous turn from the cache
 * — through Converse, ConverseStream, the Anthropic door (cache_control) and the OpenAI door (prompt_cache_key), and
 * across isolates sharing one Durable Object. The same conversations with affinity off spread and miss.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startRouter, type RouterProcess } from '../../scripts/router-runtime'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const CLAUDE = 'us.anthropic.claude-sonnet-4-6'
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1'] as const
const SYSTEM = 'You are a meticulous agent. Follow the playbook. '.repeat(80) // ≈ 1000 tokens
const pools = (e: Record<string, string>) => {
  const deployments = (prefix: string) => REGIONS.map((region) => ({ id: `${prefix}-${region}`, modelId: CLAUDE, region, endpoint: e[region] }))
  // Tests that assert where one conversation goes get pools of their own: the others' traffic would count toward the
  // imbalance guard (a holder far over its share spills) and make them depend on the order tests run in.
  return {
    sticky: { deployments: deployments('s') },
    spread: { affinity: false, deployments: deployments('x') },
    sessions: { deployments: deployments('n') },
    streams: { deployments: deployments('t') },
    claude: { deployments: deployments('c') },
    failover: { deployments: deployments('f') },
  }
}

type Msg = { role: 'user' | 'assistant'; content: Array<Record<string, unknown>> }
const point = { cachePoint: { type: 'default' } }
function converseBody(history: Msg[]) {
  const messages = history.map((m, i) => (i === history.length - 1 ? { ...m, content: [...m.content, point] } : m))
  return { system: [{ text: SYSTEM }, point], messages, inferenceConfig: { maxTokens: 40 } }
}

interface Turn {
  deployment: string | null
  affinity: string | null
  usage: { inputTokens: number; cacheReadInputTokens?: number; cacheWriteInputTokens?: number }
  answer: string
}

async function converseTurn(url: string, pool: string, history: Msg[], fetcher: typeof fetch = fetch): Promise<Turn> {
  const res = await fetcher(`${url}/model/${pool}/converse`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(converseBody(history)) })
  const json = (await res.json()) as any
  expect(res.status, JSON.stringify(json)).toBe(200)
  return { deployment: res.headers.get('x-router-deployment'), affinity: res.headers.get('x-router-affinity'), usage: json.usage, answer: json.output.message.content[0].text }
}

/** Runs an agent conversation of `turns` user turns; each turn's answer goes back into the history. */
async function conversation(turns: number, send: (history: Msg[], turn: number) => Promise<Turn>, id: string): Promise<Turn[]> {
  const history: Msg[] = []
  const out: Turn[] = []
  for (let t = 0; t < turns; t++) {
    history.push({ role: 'user', content: [{ text: `conversation ${id}, step ${t}: ${'tool output line '.repeat(100)}` }] })
    const turn = await send(history, t)
    out.push(turn)
    history.push({ role: 'assistant', content: [{ text: turn.answer }] })
  }
  return out
}

/** Input tokens not read from the cache (paid at full price or more): what affinity saves on. */
const unread = (turns: Turn[]) => turns.reduce((n, t) => n + t.usage.inputTokens + (t.usage.cacheWriteInputTokens ?? 0), 0)

let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => ({ pools: pools(e) }))
})
afterAll(() => h?.close())

describe('one isolate', () => {
  it('Converse: every turn goes where the first went and reads the previous turn from the cache; with affinity off they spread and miss', async () => {
    await h.control('/__sim/reset', {})
    const sticky: Turn[][] = []
    const spread: Turn[][] = []
    for (let c = 0; c < 4; c++) {
      sticky.push(await conversation(6, (hist) => converseTurn(h.router.url, 'sticky', hist), `s${c}`))
      spread.push(await conversation(6, (hist) => converseTurn(h.router.url, 'spread', hist), `x${c}`))
    }
    for (const turns of sticky) {
      expect(new Set(turns.map((t) => t.deployment)).size).toBe(1)
      expect(turns.slice(1).map((t) => t.affinity)).toEqual(Array(5).fill('hit'))
      // After the first turn, everything but the newest exchange is read from the cache.
      for (const t of turns.slice(1)) expect(t.usage.cacheReadInputTokens!).toBeGreaterThan(t.usage.cacheWriteInputTokens! * 2)
    }
    // The first turn of each later conversation shares only the system prompt (the deployment that holds it, or new).
    expect(sticky[0][0].affinity).toBe('new')
    for (const turns of spread) expect(turns.every((t) => t.affinity === null)).toBe(true)
    // Weighted random over three deployments: 24 turns never all stay put (P = 3^-20).
    expect(spread.some((turns) => new Set(turns.map((t) => t.deployment)).size > 1)).toBe(true)
    const on = unread(sticky.flat())
    const off = unread(spread.flat())
    console.log(`affinity: input tokens not read from the cache, on ${on}, off ${off}`)
    expect(on).toBeLessThan(off * 0.8)
  })

  it('ConverseStream: the same, with the cache split in the stream’s metadata', async () => {
    const turns = await conversation(
      4,
      async (history) => {
        const res = await fetch(`${h.router.url}/model/streams/converse-stream`, {
          method: 'POST',
          headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
          body: JSON.stringify(converseBody(history)),
        })
        expect(res.status).toBe(200)
        const events = new SseParser().push(await res.text()).map((e) => ({ event: e.event, data: JSON.parse(e.data) }))
        const usage = events.find((e) => e.event === 'metadata')?.data.usage
        const answer = events.map((e) => (e.event === 'contentBlockDelta' ? (e.data.delta?.text ?? '') : '')).join('')
        return { deployment: res.headers.get('x-router-deployment'), affinity: res.headers.get('x-router-affinity'), usage, answer }
      },
      'stream',
    )
    expect(new Set(turns.map((t) => t.deployment)).size).toBe(1)
    expect(turns.slice(1).map((t) => t.affinity)).toEqual(['hit', 'hit', 'hit'])
    for (const t of turns.slice(1)) expect(t.usage.cacheReadInputTokens).toBeGreaterThan(0)
  })

  it('the Anthropic door: cache_control breakpoints keep a Claude Code–style conversation on one deployment', async () => {
    const turns = await conversation(
      4,
      async (history) => {
        const messages = history.map((m, i) => ({
          role: m.role,
          content: m.content.map((b) => ({ type: 'text', text: b.text as string, ...(i === history.length - 1 ? { cache_control: { type: 'ephemeral' } } : {}) })),
        }))
        const res = await fetch(`${h.router.url}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
          body: JSON.stringify({ model: 'claude', max_tokens: 40, system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }], messages }),
        })
        expect(res.status).toBe(200)
        const json = (await res.json()) as any
        return {
          deployment: res.headers.get('x-router-deployment'),
          affinity: res.headers.get('x-router-affinity'),
          usage: { inputTokens: json.usage.input_tokens, cacheReadInputTokens: json.usage.cache_read_input_tokens, cacheWriteInputTokens: json.usage.cache_creation_input_tokens },
          answer: json.content[0].text,
        }
      },
      'anthropic',
    )
    expect(new Set(turns.map((t) => t.deployment)).size).toBe(1)
    expect(turns.slice(1).map((t) => t.affinity)).toEqual(['hit', 'hit', 'hit'])
    for (const t of turns.slice(1)) expect(t.usage.cacheReadInputTokens!).toBeGreaterThan(t.usage.cacheWriteInputTokens!)
  })

  it('a session (OpenAI prompt_cache_key, or x-router-session) keeps requests together without breakpoints', async () => {
    const openai = async (key: string) => {
      const res = await fetch(`${h.router.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'sessions', prompt_cache_key: key, messages: [{ role: 'user', content: 'hello' }], max_tokens: 20 }),
      })
      expect(res.status).toBe(200)
      return { deployment: res.headers.get('x-router-deployment'), affinity: res.headers.get('x-router-affinity') }
    }
    const first = await openai('user-7')
    expect(first.affinity).toBe('new')
    for (let i = 0; i < 8; i++) expect(await openai('user-7')).toEqual({ deployment: first.deployment, affinity: 'hit' })
    const header = async () => {
      const res = await fetch(`${h.router.url}/model/sessions/converse`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', 'x-router-session': 'ticket-991' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'status?' }] }] }),
      })
      return res.headers.get('x-router-deployment')
    }
    const where = await header()
    for (let i = 0; i < 8; i++) expect(await header()).toBe(where)
  })

  it('spills over when the holder fails, and the conversation then stays on the new deployment', async () => {
    await h.control('/__sim/reset', {})
    const history: Msg[] = [{ role: 'user', content: [{ text: 'failover conversation' }] }]
    const first = await converseTurn(h.router.url, 'failover', history)
    const region = first.deployment!.replace(/^f-/, '')
    await h.control('/__sim/rules', [{ fault: 'error', region, status: 503, errorType: 'ServiceUnavailableException', count: 1 }])
    history.push({ role: 'assistant', content: [{ text: first.answer }] }, { role: 'user', content: [{ text: 'next' }] })
    const res = await fetch(`${h.router.url}/model/failover/converse`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(converseBody(history)) })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-router-failovers')).toMatch(new RegExp(`^${first.deployment}=unavailable`))
    // Spilled: the holder of this conversation's prefix was tried (the new one may hold the shared system prefix).
    expect(res.headers.get('x-router-affinity')).toMatch(new RegExp(`^(spill|shorter prefix): the cached prefix's holder: ${first.deployment} was tried$`))
    const moved = res.headers.get('x-router-deployment')
    const answer = ((await res.json()) as any).output.message.content[0].text
    history.push({ role: 'assistant', content: [{ text: answer }] }, { role: 'user', content: [{ text: 'and after' }] })
    const after = await converseTurn(h.router.url, 'failover', history)
    expect(after).toMatchObject({ deployment: moved, affinity: 'hit' })
  })
})

describe('three isolates sharing one Durable Object', () => {
  let router: RouterProcess
  beforeAll(async () => {
    router = await startRouter({
      instances: 3,
      vars: { ROUTER_CONFIG: JSON.stringify({ pools: pools(h.simulator.endpoints) }), ROUTER_API_KEYS: CLIENT_KEY, AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY },
    })
  })
  afterAll(() => router?.close())

  it('each turn through another isolate: the conversation still stays on one deployment', async () => {
    const turns = await conversation(6, (hist, t) => converseTurn('http://router', 'sticky', hist, router.instances[t % 3] as typeof fetch), 'iso')
    expect(new Set(turns.map((t) => t.deployment)).size).toBe(1)
    expect(turns.slice(1).map((t) => t.affinity)).toEqual(Array(5).fill('hit'))
  })
})

describe('three isolates, a pool with leases (decisions made in the isolates)', () => {
  let router: RouterProcess
  beforeAll(async () => {
    const e = h.simulator.endpoints
    const leased = { leases: true, deployments: REGIONS.map((region) => ({ id: `l-${region}`, modelId: CLAUDE, region, endpoint: e[region] })) }
    router = await startRouter({
      instances: 3,
      vars: { ROUTER_CONFIG: JSON.stringify({ pools: { leased } }), ROUTER_API_KEYS: CLIENT_KEY, AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY },
    })
  })
  afterAll(() => router?.close())

  it("each turn through another isolate, under load that keeps every isolate deciding within its slices: the conversation stays on one deployment (the holders reach the other isolates through the object's renewals)", async () => {
    // Background traffic without cache points on every isolate, so each holds slices of every deployment and decides
    // locally; bounded by the conversation's end.
    let done = false
    const background = Array.from({ length: 6 }, async (_, i) => {
      let n = 0
      while (!done && n++ < 400) {
        const res = await router.instances[i % 3]('http://router/model/leased/converse', {
          method: 'POST',
          headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'background' }] }], inferenceConfig: { maxTokens: 20 } }),
        })
        await res.arrayBuffer()
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500)) // the isolates' first renewals: slices held
      const turns = await conversation(
        6,
        async (hist, t) => {
          if (t > 0) await new Promise((resolve) => setTimeout(resolve, 1200)) // two renewal periods: the holder reaches the next isolate
          return converseTurn('http://router', 'leased', hist, router.instances[t % 3] as typeof fetch)
        },
        'leased',
      )
      expect(new Set(turns.map((t) => t.deployment)).size).toBe(1)
      expect(turns.slice(1).map((t) => t.affinity)).toEqual(Array(5).fill('hit'))
    } finally {
      done = true
      await Promise.all(background)
    }
  }, 60_000)
})
