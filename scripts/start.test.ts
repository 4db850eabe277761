/** `npm start` refuses to start on a bad environment, and says why. */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { checkEnvironment } from '../src/config/problems'

const config = JSON.stringify({ pools: { p: { deployments: [{ id: 'a', modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', credentials: 'prod' }] } } })

describe('npm start preflight (the same check as /health)', () => {
  it('lists every problem: no client keys, missing credentials', () => {
    expect(checkEnvironment({ ROUTER_CONFIG: config }).problems).toEqual([
      'ROUTER_API_KEYS is not set: client authentication is required (comma-separated keys, or clients.keys / tokens in ROUTER_CONFIG).',
      'deployment a: no upstream credentials; set AWS_ACCESS_KEY_ID_PROD + AWS_SECRET_ACCESS_KEY_PROD (optionally AWS_SESSION_TOKEN_PROD), or AWS_BEARER_TOKEN_BEDROCK_PROD',
    ])
    expect(checkEnvironment({ ROUTER_CONFIG: config, ROUTER_API_KEYS: 'k', AWS_BEARER_TOKEN_BEDROCK_PROD: 'x' }).problems).toEqual([])
    expect(checkEnvironment({ ROUTER_CONFIG: '{"pools":{"p":{"strategy":"fastest","deployments":[]}}}', ROUTER_API_KEYS: 'k' }).problems).toEqual([
      'pools.p.strategy: strategy must be one of: weighted, rate-limit-aware, cost, latency, bedrock-ipr, custom',
      'pools.p.deployments: deployments must list at least one deployment',
    ])
  })

  it('exits non-zero with the problems on stderr, before listening', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: { PATH: process.env.PATH, ROUTER_CONFIG: config, PORT: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(run.status).toBe(1)
    expect(run.stderr).toContain('The router cannot start')
    expect(run.stderr).toContain('ROUTER_API_KEYS is not set')
    expect(run.stdout).not.toContain('listening')
  })
})

describe('npm start with no config: demo mode', () => {
  it('serves the demo pool in front of the simulator and prints how to call it', async () => {
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: { PATH: process.env.PATH, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let out = ''
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 45_000)
        child.stdout.on('data', (d) => {
          out += d
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
          if (m && out.includes('curl')) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
      })
      expect(out).toContain('demo client key:   demo-key')
      const res = await fetch(`${url}/model/demo/converse`, {
        method: 'POST',
        headers: { authorization: 'Bearer demo-key', 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }),
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-router-deployment')).toMatch(/^sonnet-(use1|usw2)$/)
      expect(((await res.json()) as any).output.message.content[0].text).toMatch(/^Hello from us-(east-1|west-2)/)
    } finally {
      child.kill('SIGTERM')
    }
  })
})
