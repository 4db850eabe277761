/**
 * Orchestration policies through the worker, end to end: routing rules (restrict, redirect, override, refuse in each
 * front door's shape), custom strategies over a webhook on 127.0.0.1 that is fast, slow, failing and wrong, and an
 * A/B test of two pools over a throttling region whose comparison in /stats shows the difference, with its interval.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SseParser } from '../support/sse-parser'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const HAIKU = 'us.anthropic.claude-haiku-4-5-20251001-v1:0'
const NOVA = 'us.amazon.nova-lite-v1:0'
const INTERN = 'ber_intern_key_0001'
const ADMIN = 'policy-admin-key'
let h: Harness
let hook: Server
const hookCalls: Array<{ path: string; body: any; headers: Record<string, unknown> }> = []

beforeAll(async () => {
  hook = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      hookCalls.push({ path: req.url ?? '', body: JSON.parse(raw), headers: req.headers })
      const answer = (body: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      if (req.url === '/fast') return answer({ ranking: ['fast-usw2', 'fast-use1'] })
      if (req.url === '/slow') return void setTimeout(() => answer({ deployment: 'slow-usw2' }), 400)
      if (req.url === '/fail') return answer({ error: 'boom' }, 500)
      if (req.url === '/check') {
        const { request, answer: a } = JSON.parse(raw)
        return answer(/strict/.test(request.lastUserMessage) && /us-west-2/.test(a.text) ? { pass: false, reason: 'too vague' } : { pass: true })
      }
      return answer({ deployment: 'no-such-deployment' })
    })
  })
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve))
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`
  const customPool = (e: Record<string, string>, path: string) => ({
    strategy: 'custom',
    custom: { url: `${hookUrl}${path}`, headers: { authorization: 'Bearer hook-secret' }, fallback: 'weighted' },
    deployments: [
      { id: `${path.slice(1)}-use1`, modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] },
      { id: `${path.slice(1)}-usw2`, modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'], weight: 0 },
    ],
  })
  h = await startHarness(
    (e) => ({
      clients: { keys: [{ name: 'intern', sha256: createHash('sha256').update(INTERN).digest('hex') }] },
      rules: [
        { name: 'no-interns', when: { client: 'intern' }, then: { reject: { status: 403, message: 'Interns may not call this router.' } } },
        { name: 'legal-stays-east', when: { all: [{ pool: 'sonnet' }, { systemPrompt: { matches: 'legal', flags: 'i' } }] }, then: { deployments: ['use1'] } },
        { name: 'long-prompts-to-haiku', when: { pool: 'sonnet', inputTokens: { gt: 2000 } }, then: { pool: 'haiku' } },
        { name: 'finance-by-cost', when: { tag: { team: 'finance' } }, then: { strategy: 'cost' } },
      ],
      templates: { support: { anthropic: 'You are {{company}} support, answering as Claude.', amazon: 'You are {{company}} support, answering as Nova.' } },
      pools: {
        mixed: {
          prompt: { template: 'support', append: 'Be brief.' },
          guardrail: { identifier: 'gr-pool', version: '2', trace: 'enabled', streamProcessingMode: 'async' },
          deployments: [
            { id: 'mixed-claude', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'mixed-nova', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
          ],
        },
        small: {
          guardrail: { identifier: 'gr-small', version: '1', enforce: true },
          deployments: [{ id: 'small-nova', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }],
        },
        big: {
          cascade: { tiers: ['small'] },
          deployments: [{ id: 'big-sonnet', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'] }],
        },
        'big-checked': {
          cascade: { tiers: ['small'], check: { url: `${hookUrl}/check` } },
          deployments: [{ id: 'big-checked-sonnet', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'] }],
        },
        judge: { deployments: [{ id: 'judge-micro', modelId: 'us.amazon.nova-micro-v1:0', region: 'us-east-1', endpoint: e['us-east-1'] }] },
        'judge-dead': { maxAttempts: 1, deployments: [{ id: 'judge-nowhere', modelId: 'us.amazon.nova-micro-v1:0', region: 'us-east-1', endpoint: 'http://127.0.0.1:9' }] },
        'big-judged': {
          cascade: { tiers: ['small'], judge: { pool: 'judge' } },
          deployments: [{ id: 'big-judged-sonnet', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'] }],
        },
        'big-judge-dead': {
          cascade: { tiers: ['small'], judge: { pool: 'judge-dead' } },
          deployments: [{ id: 'big-judge-dead-sonnet', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'] }],
        },
        'big-json': {
          cascade: { tiers: ['small'], checks: ['json'] },
          deployments: [{ id: 'big-json-sonnet', modelId: SONNET, region: 'eu-west-1', endpoint: e['eu-west-1'] }],
        },
        enforced: {
          guardrail: { identifier: 'gr-enforced', version: '1', enforce: true },
          deployments: [{ id: 'enforced-nova', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }],
        },
        sonnet: {
          deployments: [
            { id: 'use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'], weight: 1 },
            { id: 'usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], weight: 1000 },
          ],
        },
        haiku: { deployments: [{ id: 'haiku-euw1', modelId: HAIKU, region: 'eu-west-1', endpoint: e['eu-west-1'] }] },
        'custom-fast': customPool(e, '/fast'),
        'custom-slow': customPool(e, '/slow'),
        'custom-fail': customPool(e, '/fail'),
        'custom-wrong': customPool(e, '/wrong'),
        'custom-binding': {
          strategy: 'custom',
          custom: { binding: 'ROUTER_STRATEGY', timeoutMs: 200 },
          deployments: [
            { id: 'b-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'b-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'], weight: 0 },
          ],
        },
        east: { deployments: [{ id: 'nova-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] }] },
        west: { deployments: [{ id: 'nova-usw2', modelId: NOVA, region: 'us-west-2', endpoint: e['us-west-2'] }] },
        ab: {
          experiment: { name: 'east-vs-west', sticky: 'header:x-session', arms: [{ name: 'east', pool: 'east' }, { name: 'west', pool: 'west' }] },
          deployments: [{ id: 'ab-use1', modelId: NOVA, region: 'us-east-1', endpoint: e['us-east-1'] }],
        },
      },
    }),
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_STATS_FLUSH_MS: '100' },
    {
      // Another Worker behind a service binding, answering the same protocol as the webhook (no network hop).
      serviceBindings: {
        ROUTER_STRATEGY: async (req: Request) => {
          const body = (await req.json()) as { candidates: Array<{ id: string; region: string }> }
          bindingCalls.push(body)
          return Response.json({ deployment: body.candidates.find((c) => c.region === 'us-west-2')!.id })
        },
      },
    },
  )
})
const bindingCalls: unknown[] = []
afterAll(async () => {
  await h?.close()
  await new Promise((resolve) => hook?.close(resolve))
})

async function converse(pool: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}, key = CLIENT_KEY) {
  const res = await fetch(`${h.router.url}/model/${pool}/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }], inferenceConfig: { maxTokens: 20 }, ...body }),
  })
  return { res, body: (await res.json()) as any }
}

describe('routing rules', () => {
  it('no rule matches: the pool’s strategy decides (weight 1000 → usw2), no x-router-rule', async () => {
    const { res } = await converse('sonnet')
    expect(res.headers.get('x-router-deployment')).toBe('usw2')
    expect(res.headers.get('x-router-rule')).toBeNull()
  })

  it('restrict to deployments by the system prompt’s content', async () => {
    for (let i = 0; i < 3; i++) {
      const { res } = await converse('sonnet', { system: [{ text: 'You are a LEGAL assistant.' }] })
      expect(res.headers.get('x-router-deployment')).toBe('use1')
      expect(res.headers.get('x-router-rule')).toBe('legal-stays-east')
    }
  })

  it('redirect long prompts to another pool', async () => {
    const { res, body } = await converse('sonnet', { messages: [{ role: 'user', content: [{ text: 'word '.repeat(3000) }] }] })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-router-rule')).toBe('long-prompts-to-haiku')
    expect(res.headers.get('x-router-pool')).toBe('haiku')
    expect(body.output.message.content[0].text).toMatch(/eu-west-1/)
  })

  it('override the strategy by tag (x-router-tags), named in the trace', async () => {
    const { res } = await converse('sonnet', {}, { 'x-router-tags': 'team=finance' })
    expect(res.headers.get('x-router-rule')).toBe('finance-by-cost')
    expect(res.headers.get('x-router-reason')).toMatch(/cheapest|cost/)
  })

  it('refuse, in each front door’s error shape, and send nothing upstream', async () => {
    const before = (await h.control('/__sim/requests')).requests.length
    const { res, body } = await converse('sonnet', {}, {}, INTERN)
    expect(res.status).toBe(403)
    expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException')
    expect(res.headers.get('x-router-rule')).toBe('no-interns')
    expect(res.headers.get('retry-after')).toBeNull()
    expect(body.message).toBe('Interns may not call this router. (rule no-interns)')
    const openai = await new OpenAI({ baseURL: `${h.router.url}/v1`, apiKey: INTERN, maxRetries: 0 }).chat.completions.create({ model: 'sonnet', messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e)
    expect(openai).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(openai.code).toBe('rejected_by_rule')
    const anthropic = await new Anthropic({ baseURL: h.router.url, apiKey: INTERN, maxRetries: 0 }).messages.create({ model: 'sonnet', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }).catch((e) => e)
    expect(anthropic).toBeInstanceOf(Anthropic.PermissionDeniedError)
    expect((await h.control('/__sim/requests')).requests.length).toBe(before)
  })
})

describe('custom strategies over a webhook', () => {
  it('fast: its ranking wins (even over the pool’s weights), and it sees features and live state, never a client credential', async () => {
    const { res } = await converse('custom-fast', {}, { 'x-router-tags': 'team=search' })
    expect(res.headers.get('x-router-deployment')).toBe('fast-usw2')
    expect(res.headers.get('x-router-custom')).toBe('webhook chose fast-usw2 (ranked 2)')
    const call = hookCalls.find((c) => c.path === '/fast')!
    expect(call.headers.authorization).toBe('Bearer hook-secret')
    expect(call.body).toMatchObject({ pool: 'custom-fast', request: { model: 'custom-fast', frontDoor: 'bedrock', tags: { team: 'search' } } })
    expect(call.body.candidates.map((c: any) => c.id)).toEqual(['fast-use1', 'fast-usw2'])
    expect(call.body.candidates[0]).toMatchObject({ usable: true, breaker: 'closed', price: { input: expect.any(Number) } })
    expect(JSON.stringify(call.body)).not.toContain(CLIENT_KEY)
  })

  it('slow, failing or wrong: the fallback strategy serves at once, the trace says why; three failures and it is skipped', async () => {
    const slow = await converse('custom-slow')
    expect(slow.res.status).toBe(200)
    expect(slow.res.headers.get('x-router-custom')).toBe('webhook timed out after 50 ms; fell back to weighted')
    expect(slow.res.headers.get('x-router-deployment')).toBe('slow-use1') // weighted: slow-usw2 has weight 0
    expect(Number(slow.res.headers.get('x-router-overhead-ms'))).toBeLessThan(300)
    const fail = await converse('custom-fail')
    expect(fail.res.headers.get('x-router-custom')).toBe('webhook failed (HTTP 500); fell back to weighted')
    const wrong = await converse('custom-wrong')
    expect(wrong.res.headers.get('x-router-custom')).toBe('webhook answered no known deployment; fell back to weighted')
    for (let i = 0; i < 2; i++) await converse('custom-fail')
    const calls = hookCalls.filter((c) => c.path === '/fail').length
    const skipped = await converse('custom-fail')
    expect(skipped.res.headers.get('x-router-custom')).toBe('webhook skipped after 3 failures in a row; fell back to weighted')
    expect(hookCalls.filter((c) => c.path === '/fail').length).toBe(calls)
  })
})

describe('per-model prompts and guardrails per pool', () => {
  const lastUpstream = async () => ((await h.control('/__sim/requests')).requests as Array<{ body: any; region: string }>).at(-1)!

  it('each family gets the template written for it (after failover too), variables from tags; the pool’s guardrail is attached', async () => {
    const claude = await converse('mixed', {}, { 'x-router-tags': 'company=Acme' })
    expect(claude.res.headers.get('x-router-template')).toBe('template support (anthropic), system append')
    expect(claude.res.headers.get('x-router-guardrail')).toBe('gr-pool:2')
    let sent = await lastUpstream()
    expect(sent.body.system).toEqual([{ text: 'You are Acme support, answering as Claude.' }, { text: 'Be brief.' }])
    expect(sent.body.guardrailConfig).toEqual({ guardrailIdentifier: 'gr-pool', guardrailVersion: '2', trace: 'enabled' })
    await h.control('/__sim/rules', { region: 'us-east-1', modelId: SONNET, fault: 'throttle', times: 1 })
    const nova = await converse('mixed', {}, { 'x-router-tags': 'company=Acme' })
    expect(nova.res.headers.get('x-router-deployment')).toBe('mixed-nova')
    expect(nova.res.headers.get('x-router-template')).toBe('template support (amazon), system append')
    sent = await lastUpstream()
    expect(sent.region).toBe('us-west-2')
    expect(sent.body.system[0]).toEqual({ text: 'You are Acme support, answering as Nova.' })
  })

  it('the client’s own guardrail wins unless the pool enforces its own', async () => {
    const own = { guardrailConfig: { guardrailIdentifier: 'gr-client', guardrailVersion: '7' } }
    const kept = await converse('mixed', own)
    expect(kept.res.headers.get('x-router-guardrail')).toBe("the client's own")
    expect((await lastUpstream()).body.guardrailConfig).toEqual(own.guardrailConfig)
    const replaced = await converse('enforced', own)
    expect(replaced.res.headers.get('x-router-guardrail')).toBe('gr-enforced:1')
    expect((await lastUpstream()).body.guardrailConfig).toEqual({ guardrailIdentifier: 'gr-enforced', guardrailVersion: '1' })
  })

  it('interventions are counted per pool; a stream the guardrail stops ends as Bedrock ends it', async () => {
    const blocked = await converse('enforced', { messages: [{ role: 'user', content: [{ text: 'please BLOCKME now' }] }] })
    expect(blocked.body.stopReason).toBe('guardrail_intervened')
    const stream = await fetch(`${h.router.url}/model/enforced/converse-stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'BLOCKME' }] }] }),
    })
    const text = await stream.text()
    expect(text).toMatch(/event: messageStop\ndata: \{[^\n]*"stopReason":"guardrail_intervened"/)
    expect((await lastUpstream()).body.guardrailConfig).toMatchObject({ guardrailIdentifier: 'gr-enforced' })
    let stats: any
    for (let i = 0; i < 50; i++) {
      stats = await (await fetch(`${h.router.url}/stats?since=1h&by=pool&pool=enforced`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
      if (stats.total.guardrailInterventions >= 2) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(stats.groups[0]).toMatchObject({ keys: { pool: 'enforced' }, guardrailInterventions: 2 })
  })
})

/** The text of a Bedrock SSE stream's contentBlockDelta events. */
const answerOf = (sse: string) =>
  new SseParser()
    .push(sse)
    .filter((e) => e.event === 'contentBlockDelta')
    .map((e) => JSON.parse(e.data).delta?.text ?? '')
    .join('')

describe('cascade: the small tier first, escalating only when its answer fails the checks', () => {
  const regions = async () => ((await h.control('/__sim/requests')).requests as Array<{ region: string }>).map((r) => r.region)
  const sse = (pool: string, text: string) =>
    fetch(`${h.router.url}/model/${pool}/converse-stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }] }),
    })

  it('a good answer from the small tier is the answer; the trace says so', async () => {
    const { res, body } = await converse('big')
    expect(res.headers.get('x-router-cascade')).toBe('tier small passed')
    expect(body.output.message.content[0].text).toMatch(/^Hello from us-west-2/)
  })

  it('refusal and truncation escalate to the pool’s own deployments (whose answer is returned unchecked)', async () => {
    const refused = await converse('big', { messages: [{ role: 'user', content: [{ text: 'BLOCKME' }] }] })
    expect(refused.res.headers.get('x-router-cascade')).toBe('escalated: small=refusal')
    expect(refused.body.output.message.content[0].text).toMatch(/^Hello from eu-west-1/)
    const truncated = await converse('big', { inferenceConfig: { maxTokens: 2 } })
    expect(truncated.res.headers.get('x-router-cascade')).toBe('escalated: small=truncated')
    expect(truncated.res.headers.get('x-router-deployment')).toBe('big-sonnet')
    const json = await converse('big-json')
    expect(json.res.headers.get('x-router-cascade')).toBe('escalated: small=not JSON')
  })

  it('your own check (a webhook) after the structural ones: it sees the question and the answer, and may escalate', async () => {
    const ok = await converse('big-checked', { messages: [{ role: 'user', content: [{ text: 'Hello' }] }] })
    expect(ok.res.headers.get('x-router-cascade')).toBe('tier small passed')
    const strict = await converse('big-checked', { messages: [{ role: 'user', content: [{ text: 'be strict' }] }] })
    expect(strict.res.headers.get('x-router-cascade')).toBe('escalated: small=check: too vague')
    expect(strict.body.output.message.content[0].text).toMatch(/^Hello from eu-west-1/)
    const seen = hookCalls.filter((c) => c.path === '/check').at(-1)!.body
    expect(seen).toMatchObject({ pool: 'big-checked', tier: 'small', request: { lastUserMessage: 'be strict' }, answer: { stopReason: 'end_turn', toolNames: [] } })
  })

  it('streams are held until the tier passes: nothing of a failed tier reaches the client', async () => {
    const passed = await sse('big', 'Hello')
    expect(passed.headers.get('x-router-cascade')).toBe('tier small passed; held until checked')
    const passedText = await passed.text()
    expect(answerOf(passedText)).toMatch(/^Hello from us-west-2/)
    expect(passedText).toMatch(/: x-router-accounting \{"usage"/)
    const before = (await regions()).length
    const escalated = await sse('big', 'BLOCKME please')
    expect(escalated.headers.get('x-router-cascade')).toBe('escalated: small=refusal')
    const text = answerOf(await escalated.text())
    expect(text).toMatch(/^Hello from eu-west-1/)
    expect(text).not.toContain('Sorry, the model cannot answer')
    expect((await regions()).slice(before)).toEqual(['us-west-2', 'eu-west-1'])
  })

  it('per tier in /stats: requests and escalations (share answered), every tier’s spend accounted', async () => {
    let stats: any
    for (let i = 0; i < 50; i++) {
      stats = await (await fetch(`${h.router.url}/stats?since=1h&by=pool`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
      const small = stats.groups.find((g: any) => g.keys.pool === 'small')
      const big = stats.groups.find((g: any) => g.keys.pool === 'big')
      if (small?.requests >= 8 && small.escalations >= 5 && big?.requests >= 3) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const small = stats.groups.find((g: any) => g.keys.pool === 'small')
    // small answered: 'Hello' twice (big, big-checked), the held stream that passed; escalated: refusal, truncated,
    // not JSON, the custom check's "too vague", the held refusal.
    expect(small).toMatchObject({ requests: 8, escalations: 5, escalationsByReason: { refusal: 2, truncated: 1, 'not JSON': 1, check: 1 } })
    expect(small.costUsd).toBeGreaterThan(0)
    expect(stats.groups.find((g: any) => g.keys.pool === 'big').requests).toBe(3)
  })
})

describe('cascade with a judge: a small model scores the answer after the structural checks', () => {
  const calls = async () => ((await h.control('/__sim/requests')).requests as Array<{ region: string; modelId: string }>).map((r) => `${r.region} ${r.modelId}`)
  const text = (b: any) => b.output.message.content[0].text as string

  it('a complete but vague answer passes the structural checks and fails the judge: escalated, the judge’s score in the trace', async () => {
    const before = (await calls()).length
    const vague = await converse('big-judged', { messages: [{ role: 'user', content: [{ text: '[subtle] weigh the three refund policies' }] }] })
    expect(vague.res.headers.get('x-router-cascade')).toBe('escalated: small=judge 0.2')
    expect(text(vague.body)).toMatch(/^Hello from eu-west-1/)
    // The small tier, the judge (Nova Micro in us-east-1), then the top tier.
    expect((await calls()).slice(before)).toEqual([`us-west-2 ${NOVA}`, 'us-east-1 us.amazon.nova-micro-v1:0', `eu-west-1 ${SONNET}`])
    const good = await converse('big-judged', { messages: [{ role: 'user', content: [{ text: 'opening hours?' }] }] })
    expect(good.res.headers.get('x-router-cascade')).toBe('tier small passed')
    expect(text(good.body)).toMatch(/^Hello from us-west-2/)
  })

  it('held streams are judged too; a judge that cannot answer lets the answer stand', async () => {
    const res = await fetch(`${h.router.url}/model/big-judged/converse-stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: '[subtle] and now?' }] }] }),
    })
    expect(res.headers.get('x-router-cascade')).toBe('escalated: small=judge 0.2')
    expect(answerOf(await res.text())).toMatch(/^Hello from eu-west-1/)
    const dead = await converse('big-judge-dead', { messages: [{ role: 'user', content: [{ text: '[subtle] weigh it' }] }] })
    expect(dead.res.status).toBe(200)
    expect(dead.res.headers.get('x-router-cascade')).toBe('tier small passed')
  })

  it('/stats says what the cascades saved against their top tier: positive where a small tier answered, negative where escalations paid twice', async () => {
    let stats: any
    for (let i = 0; i < 50; i++) {
      stats = await (await fetch(`${h.router.url}/stats?since=1h&by=pool`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
      const judged = stats.groups.find((g: any) => g.keys.pool === 'big-judged')
      if (judged?.requests >= 2 && stats.groups.find((g: any) => g.keys.pool === 'judge')?.requests >= 3) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const group = (pool: string) => stats.groups.find((g: any) => g.keys.pool === pool)
    // The judge's answers are requests of their own pool, paid for.
    expect(group('judge').requests).toBe(3) // the vague answer, the good one, the held stream
    expect(group('judge').costUsd).toBeGreaterThan(0)
    const small = group('small').cascade
    expect(small.savedUsd).toBeGreaterThan(0)
    expect(small.topTierCostUsd).toBeGreaterThan(small.spentUsd)
    // Escalated requests, answered by the top tier: they cost what the top tier costs plus the tiers and judges before.
    expect(group('small').escalationsByReason).toMatchObject({ refusal: 2, truncated: 1, 'not JSON': 1, check: 1, judge: 1 })
    const judged = group('big-judged').cascade
    expect(judged.savedUsd).toBeLessThan(0)
    expect(judged.spentUsd).toBeGreaterThan(judged.topTierCostUsd)
    expect(stats.total.cascade.savedUsd).toBeCloseTo(stats.groups.reduce((n: number, g: any) => n + (g.cascade?.savedUsd ?? 0), 0), 8)
  })
})

describe('custom strategy behind a service binding', () => {
  it('asks the bound Worker, with the same protocol', async () => {
    const { res } = await converse('custom-binding')
    expect(res.headers.get('x-router-deployment')).toBe('b-usw2')
    expect(res.headers.get('x-router-custom')).toBe('service binding chose b-usw2')
    expect(bindingCalls).toHaveLength(1)
  })
})

describe('A/B test of two pools over a throttling region', () => {
  it('sticky arms, named in the trace; /stats compares them with a 95 % interval that excludes no difference', async () => {
    await h.control('/__sim/reset', { seed: 7 })
    await h.control('/__sim/rules', { region: 'us-east-1', modelId: NOVA, fault: 'throttle', probability: 0.5 })
    const arms = new Map<string, string>()
    for (let i = 0; i < 160; i++) {
      const session = `s-${i % 80}`
      const { res } = await converse('ab', {}, { 'x-session': session })
      const arm = res.headers.get('x-router-arm')!
      expect(arm).toMatch(/^east-vs-west\/(east|west)$/)
      if (arms.has(session)) expect(arm).toBe(arms.get(session)) // sticky
      arms.set(session, arm)
    }
    const westShare = [...arms.values()].filter((a) => a.endsWith('west')).length / arms.size
    expect(westShare).toBeGreaterThan(0.3)
    expect(westShare).toBeLessThan(0.7)
    let stats: any
    for (let i = 0; i < 50; i++) {
      stats = await (await fetch(`${h.router.url}/stats?since=1h&experiment=east-vs-west`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()
      if (stats.comparison.reduce((s: number, a: any) => s + a.requests, 0) >= 160) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const [east, west] = stats.comparison
    expect(east.arm).toBe('east-vs-west/east')
    expect(east.requests + west.requests).toBe(160)
    expect(east.errorRate.value).toBeGreaterThan(0.3) // half of us-east-1's answers are throttles, and the east pool has nowhere else to go
    expect(west.errorRate.value).toBe(0)
    const d = west.vsControl.errorRate
    expect(d.diff).toBeLessThan(-0.3)
    expect(d.ci95[1]).toBeLessThan(0)
    expect(d.significant).toBe(true)
    expect(west.vsControl.meanLatencyMs.ci95).toHaveLength(2)
  })
})
