/**
 * A real browser (headless Chromium: the system's, or the one shipped in the @sparticuz/chromium npm package;
 * see chromium.ts) on another origin streams SSE from the router with fetch: CORS preflight, bearer key, the
 * router's trace headers, and Bedrock's events as SSE.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

let h: Harness | undefined
let page: Server | undefined
let origin: string
let browser: Browser | undefined

beforeAll(async () => {
  // The browser first: without one the test fails here, at once, with the reason (and starts nothing).
  const launched = await launchChromium()
  browser = launched.browser
  console.log(`browser test: ${launched.choice.source} (${launched.choice.executablePath}), Chromium ${browser.version()}`)
  const server = createServer((_req, res) => res.end('<!doctype html><title>app</title>'))
  page = server
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  h = await startHarness(
    (e) => ({ pools: { chat: { deployments: [{ id: 'usw2', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-west-2', endpoint: e['us-west-2'] }] } } }),
    { ROUTER_CORS_ORIGINS: origin },
  )
})
afterAll(async () => {
  await browser?.close()
  await h?.close()
  // Only wait for a server that was started: close() on nothing never calls back.
  const server = page
  if (server) await new Promise((resolve) => server.close(resolve))
})

it('streams SSE into a page on another origin', async () => {
  const tab = await browser!.newPage()
  await tab.goto(origin)
  const result = await tab.evaluate(
    async ({ url, key }) => {
      const res = await fetch(`${url}/model/chat/converse-stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello from the browser' }] }] }),
      })
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
      let text = ''
      let chunks = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        text += value
        chunks++
      }
      const events = text
        .split('\n\n')
        .filter((block) => block && !block.startsWith(':')) // comments: what SSE clients skip
        .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) }))
      const accounting = /^: x-router-accounting (.*)$/m.exec(text)?.[1]
      return { status: res.status, deployment: res.headers.get('x-router-deployment'), chunks, events, accounting: accounting && JSON.parse(accounting) }
    },
    { url: h!.router.url, key: CLIENT_KEY },
  )
  expect(result.status).toBe(200)
  expect(result.deployment).toBe('usw2') // readable: the router exposes its trace headers to the page
  expect(result.events[0].event).toBe('messageStart')
  expect(result.events.at(-1)!.event).toBe('metadata')
  const answer = result.events.map((e) => e.data.delta?.text ?? '').join('')
  expect(answer).toMatch(/^Hello from us-west-2/)
  // The stream's usage and cost, in a trailing comment (Nova Lite's list price).
  expect(result.accounting.usage.outputTokens).toBe(result.events.at(-1)!.data.usage.outputTokens)
  expect(result.accounting.costUsd).toBeGreaterThan(0)
})

it('reads the headers of a relayed client error (fail-fast) and its JSON body', async () => {
  await h!.control('/__sim/rules', { region: 'us-west-2', fault: 'error', status: 400, errorType: 'ValidationException', message: 'bad field', times: 1 })
  const tab = await browser!.newPage()
  await tab.goto(origin)
  const result = await tab.evaluate(
    async ({ url, key }) => {
      const res = await fetch(`${url}/model/chat/converse`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }),
      })
      return { status: res.status, failFast: res.headers.get('x-router-fail-fast'), errorType: res.headers.get('x-amzn-errortype'), contentType: res.headers.get('content-type'), body: (await res.json()) as { message: string } }
    },
    { url: h!.router.url, key: CLIENT_KEY },
  )
  expect(result).toMatchObject({ status: 400, failFast: 'true', errorType: 'ValidationException', contentType: 'application/json' })
  expect(result.body.message).toBe('bad field')
})

it('a page on an origin that is not allowed cannot read the answer', async () => {
  const tab = await browser!.newPage()
  await tab.goto('about:blank')
  const outcome = await tab.evaluate(async ({ url, key }) => {
    try {
      await fetch(`${url}/model/chat/converse`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' })
      return 'read'
    } catch (e) {
      return String(e)
    }
  }, { url: h!.router.url, key: CLIENT_KEY })
  expect(outcome).toMatch(/TypeError|Failed to fetch/)
})
