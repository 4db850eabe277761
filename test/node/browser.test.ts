/**
 * A real browser (Debian's Chromium, headless) on another origin streams SSE from the router with fetch:
 * CORS preflight, bearer key, the router's trace headers, and Bedrock's events as SSE.
 */
import { existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const CHROMIUM = '/usr/bin/chromium'
let h: Harness
let page: Server
let origin: string
let browser: Browser

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error('Chromium is missing: apt-get install chromium (the CI script installs it)')
  page = createServer((_req, res) => res.end('<!doctype html><title>app</title>'))
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`
  h = await startHarness(
    (e) => ({ pools: { chat: { deployments: [{ id: 'usw2', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-west-2', endpoint: e['us-west-2'] }] } } }),
    { ROUTER_CORS_ORIGINS: origin },
  )
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
})
afterAll(async () => {
  await browser?.close()
  await h?.close()
  await new Promise((resolve) => page?.close(resolve))
})

it('streams SSE into a page on another origin', async () => {
  const tab = await browser.newPage()
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
        .filter(Boolean)
        .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(block)![1]) }))
      return { status: res.status, deployment: res.headers.get('x-router-deployment'), chunks, events }
    },
    { url: h.router.url, key: CLIENT_KEY },
  )
  expect(result.status).toBe(200)
  expect(result.deployment).toBe('usw2') // readable: the router exposes its trace headers to the page
  expect(result.events[0].event).toBe('messageStart')
  expect(result.events.at(-1)!.event).toBe('metadata')
  const answer = result.events.map((e) => e.data.delta?.text ?? '').join('')
  expect(answer).toMatch(/^Hello from us-west-2/)
})

it('a page on an origin that is not allowed cannot read the answer', async () => {
  const tab = await browser.newPage()
  await tab.goto('about:blank')
  const outcome = await tab.evaluate(async ({ url, key }) => {
    try {
      await fetch(`${url}/model/chat/converse`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' })
      return 'read'
    } catch (e) {
      return String(e)
    }
  }, { url: h.router.url, key: CLIENT_KEY })
  expect(outcome).toMatch(/TypeError|Failed to fetch/)
})
