import { describe, expect, it } from 'vitest'
import { ConfigError, parseRouterConfig } from './schema'
import { loadConfig, resolvePool } from './load'

const valid = {
  pools: {
    sonnet: {
      strategy: 'weighted',
      deployments: [
        { id: 'sonnet-use1', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1', weight: 3 },
        { id: 'sonnet-usw2', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-west-2', weight: 1, endpoint: 'https://vpce-0abc.bedrock-runtime.us-west-2.vpce.amazonaws.com/' },
        { id: 'haiku-use1', modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', region: 'us-east-1', fallback: true, rpm: 500, tpm: 1000000, price: { input: 1, output: 5 } },
      ],
    },
  },
}

function problems(config: unknown): string[] {
  try {
    parseRouterConfig(config)
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  return []
}

describe('ROUTER_CONFIG validation', () => {
  it('accepts the documented shape and fills defaults', () => {
    const { pools } = parseRouterConfig(valid)
    const [use1, usw2, haiku] = pools.sonnet.deployments
    expect(use1.endpoint).toBe('https://bedrock-runtime.us-east-1.amazonaws.com')
    expect(usw2.endpoint).toBe('https://vpce-0abc.bedrock-runtime.us-west-2.vpce.amazonaws.com')
    expect(use1.family).toBe('anthropic')
    expect(haiku).toMatchObject({ fallback: true, rpm: 500, tpm: 1000000, price: { input: 1, output: 5 }, weight: 1 })
    expect(pools.sonnet).toMatchObject({ name: 'sonnet', strategy: 'weighted', maxAttempts: 3 })
    expect(pools.sonnet.breaker.consecutiveFailures).toBe(5)
  })

  it('names the field and says what is wrong', () => {
    const bad = structuredClone(valid) as any
    bad.pools.sonnet.deployments[1].weight = '3'
    bad.pools.sonnet.deployments[2].rpm = -1
    bad.pools.sonnet.deployments[0].region = 'Virginia'
    expect(problems(bad)).toEqual([
      'pools.sonnet.deployments[0].region: region must look like us-east-1',
      'pools.sonnet.deployments[1].weight: weight must be a number',
      'pools.sonnet.deployments[2].rpm: rpm must be ≥ 1',
    ])
  })

  it('rejects unknown strategies, unknown fields, duplicate ids and pools without primaries', () => {
    expect(problems({ pools: { p: { strategy: 'round-robin', deployments: valid.pools.sonnet.deployments } } })[0]).toMatch(
      /^pools\.p\.strategy: strategy must be one of: weighted, rate-limit-aware, cost, latency, bedrock-ipr/,
    )
    expect(problems({ pools: { p: { deployments: [{ ...valid.pools.sonnet.deployments[0], wieght: 2 }] } } })).toEqual([
      'pools.p.deployments[0].wieght: unknown field "wieght" (README, Configuration, lists the fields)',
    ])
    const dup = { pools: { a: { deployments: [valid.pools.sonnet.deployments[0]] }, b: { deployments: [valid.pools.sonnet.deployments[0]] } } }
    expect(problems(dup)).toEqual(['pools.b.deployments[0].id: duplicate deployment id "sonnet-use1" (also at pools.a.deployments[0])'])
    expect(problems({ pools: { p: { deployments: [valid.pools.sonnet.deployments[2]] } } })).toEqual([
      'pools.p.deployments: at least one deployment must be a primary (fallback: false)',
    ])
    expect(problems({ pools: {} })).toEqual(['pools: pools must define at least one pool'])
    const d = valid.pools.sonnet.deployments
    expect(problems({ pools: { p: { breaker: { failureThreshold: 3 }, deployments: d } } })).toEqual([
      expect.stringMatching(/^pools\.p\.breaker\.failureThreshold: replaced by consecutiveFailures/),
    ])
    expect(problems({ pools: { p: { maxPacingMs: -1, breaker: { maxEjectionPercent: 101, panicThreshold: 2 }, deployments: d } } })).toEqual([
      'pools.p.maxPacingMs: maxPacingMs must be ≥ 0',
      'pools.p.breaker.maxEjectionPercent: breaker.maxEjectionPercent must be ≤ 100',
      'pools.p.breaker.panicThreshold: breaker.panicThreshold must be ≤ 1',
    ])
    expect(parseRouterConfig({ pools: { p: { deployments: d } } }).pools.p).toMatchObject({
      maxPacingMs: 0,
      breaker: { consecutiveFailures: 5, minRequests: 20, maxCooldownMs: 300_000, maxEjectionPercent: 50, panicThreshold: 0.5 },
    })
    expect(problems({ pools: { p: { strategy: 'bedrock-ipr', deployments: [valid.pools.sonnet.deployments[0]] } } })[0]).toMatch(/prompt-router ARN/)
  })

  it('leases: an object is checked field by field, anything else against the plain forms', () => {
    const pool = (leases: unknown) => ({ pools: { p: { leases, deployments: [valid.pools.sonnet.deployments[0]] } } })
    expect(problems(pool({ auto: 'yes' }))).toEqual(['pools.p.leases.auto: leases.auto must be true or false'])
    expect(problems(pool({ renewMs: 10 }))).toEqual(['pools.p.leases.renewMs: leases.renewMs must be ≥ 50'])
    expect(problems(pool({ renew: 100 }))).toEqual(['pools.p.leases.renew: unknown field "renew" (README, Configuration, lists the fields)'])
    for (const bad of ['sometimes', 1, [true], null]) expect(problems(pool(bad))).toEqual(['pools.p.leases: leases must be true, false, "auto" or { renewMs, sliceFactor, auto }'])
    for (const good of [true, false, 'auto', { renewMs: 100 }, { auto: true, sliceFactor: 2 }]) expect(problems(pool(good))).toEqual([])
  })

  it('reports JSON syntax errors and a missing config', () => {
    expect(() => loadConfig('{"pools": ')).toThrow(/not valid JSON/)
    expect(() => loadConfig(undefined)).toThrow(/ROUTER_CONFIG is not set/)
  })

  it('resolves pool names and member model IDs, first pool wins', () => {
    const loaded = loadConfig(JSON.stringify({ pools: { ...valid.pools, other: { deployments: [{ id: 'x', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'eu-west-1' }] } } }))
    expect(resolvePool(loaded, 'sonnet')?.name).toBe('sonnet')
    expect(resolvePool(loaded, 'us.anthropic.claude-sonnet-4-6')?.name).toBe('sonnet')
    expect(resolvePool(loaded, 'us.anthropic.claude-haiku-4-5-20251001-v1:0')?.name).toBe('sonnet')
    expect(resolvePool(loaded, 'other')?.name).toBe('other')
    expect(resolvePool(loaded, 'anthropic.claude-v2')).toBeUndefined()
  })
})
