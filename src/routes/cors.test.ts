import { describe, expect, it } from 'vitest'
import { createApp } from '../app'
import { MemoryStateStore } from '../state/memory'

const app = createApp({ stateStore: () => new MemoryStateStore() })
const config = JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }] } } })
const preflight = (env: Record<string, string>, origin = 'https://app.example.com') =>
  app.request('/model/p/converse-stream', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } }, { ROUTER_API_KEYS: 'k', ROUTER_CONFIG: config, ...env })

describe('CORS', () => {
  it('is off by default: no CORS headers, and a preflight is not authorised', async () => {
    const res = await preflight({})
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('answers preflights for configured origins before authentication, and exposes the trace headers', async () => {
    const res = await preflight({ ROUTER_CORS_ORIGINS: 'https://app.example.com, https://other.example.com' })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/)
    const denied = await preflight({ ROUTER_CORS_ORIGINS: 'https://app.example.com' }, 'https://evil.example.com')
    expect(denied.headers.get('access-control-allow-origin')).toBeNull()
    const unauthorised = await app.request('/model/p/converse', { method: 'POST', headers: { origin: 'https://app.example.com' }, body: '{}' }, { ROUTER_API_KEYS: 'k', ROUTER_CONFIG: config, ROUTER_CORS_ORIGINS: 'https://app.example.com' })
    expect(unauthorised.status).toBe(401)
    expect(unauthorised.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    const exposed = unauthorised.headers.get('access-control-expose-headers')!.split(',').map((h) => h.trim())
    expect(exposed).toEqual(expect.arrayContaining(['x-router-deployment', 'x-router-queued-ms', 'x-router-fail-fast', 'x-router-overhead-ms', 'retry-after']))
  })

  it('takes origins from the config too; never allows credentials, so * never pairs with them', async () => {
    const withCors = JSON.stringify({ cors: { origins: ['https://config.example.com'] }, pools: { p: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1' }] } } })
    const res = await app.request('/v1/messages', { method: 'OPTIONS', headers: { origin: 'https://config.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, anthropic-version' } }, { ROUTER_API_KEYS: 'k', ROUTER_CONFIG: withCors })
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('https://config.example.com')
    expect(res.headers.get('access-control-allow-headers')).toMatch(/x-api-key/)
    expect(res.headers.get('access-control-allow-credentials')).toBeNull()
    const star = await preflight({ ROUTER_CORS_ORIGINS: '*' })
    expect(star.headers.get('access-control-allow-origin')).toBe('*')
    expect(star.headers.get('access-control-allow-credentials')).toBeNull()
  })
})

