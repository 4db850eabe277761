/**
 * Per-request export to an OpenTelemetry collector: a local OTLP/HTTP receiver gets one span per request, batched
 * after the responses, with the GenAI semantic conventions' attributes, the caller's trace joined via traceparent,
 * the collector's auth header — and never a prompt, a key or a credential.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const SONNET = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
let h: Harness
let receiver: Server
const posts: Array<{ path: string; headers: Record<string, unknown>; body: any; raw: string }> = []

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => (raw += c))
    req.on('end', () => {
      posts.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw), raw })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const port = (receiver.address() as AddressInfo).port
  h = await startHarness(
    (e) => ({
      pools: {
        sonnet: {
          deployments: [
            { id: 'use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
          ],
        },
      },
    }),
    { ROUTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`, ROUTER_OTLP_HEADERS: 'authorization=Bearer collector-token', ROUTER_STATS_FLUSH_MS: '1500' }, // longer than the four answers take on a busy machine: the batch comes after them
  )
})
afterAll(async () => {
  await h?.close()
  await new Promise((resolve) => receiver.close(resolve))
})

const spans = () => posts.flatMap((p) => p.body.resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans)))
const attr = (span: any, key: string) => {
  const v = span.attributes.find((a: any) => a.key === key)?.value
  return v && (v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue))
}

it('one span per request, GenAI attributes, joined to the caller’s trace, sent in a batch after the answers', async () => {
  await h.control('/__sim/rules', { region: 'us-east-1', modelId: SONNET, fault: 'throttle', times: 1 })
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const answers = []
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${h.router.url}/model/sonnet/converse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-router-tags': 'feature=export' },
      body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'a secret prompt' }] }], inferenceConfig: { maxTokens: 30 } }),
    })
    answers.push({ res, body: (await res.json()) as any })
  }
  const stream = await fetch(`${h.router.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sonnet', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Hello' }] }),
  })
  await stream.text()
  expect(posts).toHaveLength(0) // nothing was sent while answering
  for (let i = 0; i < 80 && spans().length < 4; i++) await new Promise((r) => setTimeout(r, 100))
  const all = spans()
  expect(all).toHaveLength(4)
  expect(posts.length).toBeLessThan(4) // batched
  for (const p of posts) {
    expect(p.path).toBe('/v1/traces')
    expect(p.headers.authorization).toBe('Bearer collector-token')
    expect(p.body.resourceSpans[0].resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'bedrock-edge-router' } })
    expect(p.raw).not.toContain('a secret prompt')
    expect(p.raw).not.toContain(CLIENT_KEY)
  }
  const converse = all.filter((s: any) => s.traceId === traceId)
  expect(converse).toHaveLength(3)
  for (const [i, span] of converse.entries()) {
    expect(span).toMatchObject({ name: 'chat sonnet', kind: 3, parentSpanId: '00f067aa0ba902b7', status: { code: 1 } })
    expect(attr(span, 'gen_ai.operation.name')).toBe('chat')
    expect(attr(span, 'gen_ai.provider.name')).toBe('aws.bedrock')
    expect(attr(span, 'gen_ai.request.model')).toBe('sonnet')
    expect(attr(span, 'gen_ai.response.model')).toBe(SONNET)
    const usage = answers.find((a) => a.res.headers.get('x-router-deployment') === attr(span, 'router.deployment') && a.body.usage.inputTokens === attr(span, 'gen_ai.usage.input_tokens'))
    expect(usage).toBeDefined()
    expect(attr(span, 'gen_ai.usage.output_tokens')).toBe(usage!.body.usage.outputTokens)
    expect(attr(span, 'router.cost_usd')).toBeGreaterThan(0)
    expect(attr(span, 'router.tag.feature')).toBe('export')
    expect(Number(span.endTimeUnixNano)).toBeGreaterThan(Number(span.startTimeUnixNano))
    if (i === 0) expect(attr(span, 'router.failovers')).toBe(1)
  }
  const streamed = all.find((s: any) => s.traceId !== traceId)
  expect(attr(streamed, 'router.front_door')).toBe('openai')
  expect(attr(streamed, 'gen_ai.server.time_to_first_token')).toBeGreaterThan(0)
  expect(attr(streamed, 'gen_ai.usage.output_tokens')).toBeGreaterThan(0)
  expect(streamed.traceId).toMatch(/^[\da-f]{32}$/)
})
