/**
 * A client that goes away: the router (in workerd, as `npm start` runs it) aborts its upstream request — a stream
 * mid-way, a Converse call still waiting — so nothing keeps burning tokens for nobody. The simulator says what it
 * saw: a stream ended by its caller (`streamsCancelled`), a waiting request whose caller left (`RequestAborted`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
let h: Harness
beforeAll(async () => {
  h = await startHarness((e) => ({ pools: { p: { deployments: [{ id: 'usw2', modelId: MODEL, region: 'us-west-2', endpoint: e['us-west-2'] }] } } }), { ROUTER_LOG_SAMPLE: '0' })
})
afterAll(() => h?.close())

const stats = async () => ((await h.control('/__sim/stats')) as Record<string, Record<string, { streamsCancelled: number; errors: Record<string, number> }>>)['us-west-2']?.[MODEL]
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms
  let v = await read()
  while (!ok(v) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50))
    v = await read()
  }
  return v
}

const headers = { authorization: `Bearer ${CLIENT_KEY}`, 'x-api-key': CLIENT_KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }
const doors: Array<[string, string, Record<string, string>, string]> = [
  ['Bedrock ConverseStream (binary)', '/model/p/converse-stream', {}, JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'a long story' }] }] })],
  ['Bedrock ConverseStream (SSE)', '/model/p/converse-stream', { accept: 'text/event-stream' }, JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'a long story' }] }] })],
  ['OpenAI stream', '/v1/chat/completions', {}, JSON.stringify({ model: 'p', stream: true, messages: [{ role: 'user', content: 'a long story' }] })],
  ['Anthropic stream (InvokeModel)', '/v1/messages', {}, JSON.stringify({ model: 'p', stream: true, max_tokens: 200, messages: [{ role: 'user', content: 'a long story' }] })],
]

describe('the client goes away', () => {
  for (const [name, path, extra, body] of doors) {
    it(`${name}: mid-stream, the upstream stream is aborted`, async () => {
      await h.control('/__sim/reset', {})
      await h.control('/__sim/rules', [{ fault: 'delay', frameDelayMs: 400 }])
      const abort = new AbortController()
      const res = await fetch(`${h.router.url}${path}`, { method: 'POST', headers: { ...headers, ...extra }, body, signal: abort.signal })
      expect(res.status).toBe(200)
      const reader = res.body!.getReader()
      await reader.read() // the first bytes arrived: the stream is running upstream
      abort.abort()
      await reader.cancel().catch(() => {})
      const seen = await eventually(stats, (s) => (s?.streamsCancelled ?? 0) >= 1)
      expect(seen?.streamsCancelled, 'the simulator saw its stream ended by the router').toBe(1)
    })
  }

  // Converse still waiting for upstream's answer: workerd's HTTP server (locally: Miniflare's direct socket) does not pass a client's
  // disconnect on to the worker before the response has started (the worker's request.signal never fires), so that case is tested on
  // Deno (test/deno/shared-state.test.ts: the upstream saw the abort, the reservation was released); here the attempt
  // ends at the pool's attemptTimeoutMs.
})
