/**
 * The playground page in real headless Chromium, loaded from another origin than the router's: paste a token minted
 * by a server, load the pools, and stream an answer through each front door (Bedrock SSE, OpenAI, Anthropic),
 * seeing the text and the deployment that served it. A screenshot of each is written to the temp directory.
 */
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { launchChromium } from './chromium'
import { startHarness, type Harness } from './harness'
import { PLAYGROUND_JWT_SECRET } from '../support/secrets'

const SERVER_KEY = 'ber_playground_server_key_01'
let h: Harness | undefined
let site: Server | undefined
let origin: string
let browser: Browser | undefined

beforeAll(async () => {
  browser = (await launchChromium()).browser
  let html = ''
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html))
  site = server
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  h = await startHarness(
    (e) => ({
      clients: { keys: [{ name: 'web-backend', sha256: createHash('sha256').update(SERVER_KEY).digest('hex'), mint: true, pools: ['chat'] }] },
      pools: { chat: { deployments: [{ id: 'chat-usw2', modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', region: 'us-west-2', endpoint: e['us-west-2'] }] } },
    }),
    { ROUTER_CORS_ORIGINS: origin, ROUTER_JWT_SECRET: PLAYGROUND_JWT_SECRET },
  )
  // The page as the router serves it, hosted by the app's own origin.
  const res = await fetch(`${h.router.url}/playground`)
  expect(res.headers.get('content-type')).toContain('text/html')
  html = await res.text()
})
afterAll(async () => {
  await browser?.close()
  await h?.close()
  const server = site
  if (server) await new Promise((resolve) => server.close(resolve))
})

it('streams through every front door from another origin with a minted token, showing who served it', async () => {
  const minted = (await (await fetch(`${h!.router.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${SERVER_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ subject: 'browser-user', ttlSeconds: 300 }) })).json()) as { token: string }
  const tab = await browser!.newPage()
  const errors: string[] = []
  tab.on('pageerror', (e) => errors.push(String(e)))
  await tab.goto(`${origin}/?router=${encodeURIComponent(h!.router.url)}`)
  await tab.fill('#key', minted.token)
  await tab.click('#load')
  await tab.waitForSelector('#pool option[value="chat"]', { state: 'attached', timeout: 10_000 })
  for (const door of ['bedrock', 'openai', 'anthropic']) {
    await tab.selectOption('#door', door)
    await tab.fill('#prompt', `Hello through ${door}`)
    await tab.click('#send')
    // Expressions evaluated in the page (this file is type-checked without the DOM library).
    await tab.waitForFunction("/Hello from us-west-2/.test(document.getElementById('out').textContent)", undefined, { timeout: 15_000 })
    await tab.waitForFunction("/usage/.test(document.getElementById('trace').textContent)", undefined, { timeout: 15_000 })
    const trace = await tab.textContent('#trace')
    expect(trace).toContain('chat-usw2')
    expect(trace).toContain('us-west-2')
    await tab.screenshot({ path: join(tmpdir(), `playground-${door}.png`) })
  }
  expect(errors).toEqual([])
}, 60_000)
