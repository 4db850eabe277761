import { describe, expect, it } from 'vitest'
import { parseRouterConfig } from '../config/schema'
import { assignArm, stickyKey, unitHash } from './experiments'
import { compileCondition, firstMatch, compileRules } from './rules'
import type { RequestFeatures } from './types'

const features = (extra: Partial<RequestFeatures> = {}): RequestFeatures => ({
  pool: 'sonnet', model: 'sonnet', frontDoor: 'bedrock', hasTools: false, hasImages: false, hasDocuments: false, inputTokens: 100, maxTokens: 500,
  tags: { team: 'search' }, client: 'team-a', team: 'web', credential: 'key', systemPrompt: 'You are a legal assistant.', lastUserMessage: 'Summarise this contract',
  header: (n) => ({ 'x-tier': 'gold' })[n], ...extra,
})

describe('rule conditions', () => {
  it('every feature test, exact, regular expression and list matches, ranges', () => {
    const holds = (c: object, f = features()) => compileCondition(c as never)(f)
    expect(holds({ pool: 'sonnet', frontDoor: ['bedrock', 'openai'], hasTools: false })).toBe(true)
    expect(holds({ model: { matches: '^son' } })).toBe(true)
    expect(holds({ client: { in: ['team-b', 'team-c'] } })).toBe(false)
    expect(holds({ inputTokens: { gt: 50, lte: 100 } })).toBe(true)
    expect(holds({ inputTokens: { gt: 100 } })).toBe(false)
    expect(holds({ maxTokens: { gte: 1000 } })).toBe(false)
    expect(holds({ maxTokens: { lt: 1 } }, features({ maxTokens: undefined }))).toBe(false) // unset never matches a range
    expect(holds({ tag: { team: 'search' } })).toBe(true)
    expect(holds({ tag: { missing: { matches: '.*' } } })).toBe(false)
    expect(holds({ header: { 'X-Tier': 'gold' } })).toBe(true)
    expect(holds({ systemPrompt: { matches: 'LEGAL', flags: 'i' } })).toBe(true)
    expect(holds({ lastUserMessage: { matches: 'contract' }, team: 'web', credential: 'key' })).toBe(true)
    expect(holds({ credential: 'token' })).toBe(false)
  })

  it('compose with all, any, not; several keys in one object must all hold', () => {
    const holds = (c: object) => compileCondition(c as never)(features())
    expect(holds({ all: [{ pool: 'sonnet' }, { any: [{ client: 'x' }, { team: 'web' }] }, { not: { hasImages: true } }] })).toBe(true)
    expect(holds({ pool: 'sonnet', client: 'x' })).toBe(false)
    expect(holds({ any: [] })).toBe(false)
    expect(holds({ all: [] })).toBe(true)
  })

  it('first match wins', () => {
    const rules = compileRules([
      { name: 'a', when: { client: 'nobody' }, then: { pool: 'x' } },
      { name: 'b', when: { tag: { team: 'search' } }, then: { pool: 'y' } },
      { name: 'c', when: {}, then: { pool: 'z' } },
    ])
    expect(firstMatch(rules, features())?.name).toBe('b')
  })
})

describe('rules, experiments and custom strategies in the config', () => {
  const pools = {
    sonnet: { deployments: [{ id: 's1', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1' }] },
    haiku: { deployments: [{ id: 'h1', modelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0', region: 'us-east-1' }] },
  }
  const problems = (doc: object): string[] => {
    try {
      parseRouterConfig(doc)
      return []
    } catch (e) {
      return (e as { problems: string[] }).problems
    }
  }

  it('problems name the rule, the pool and the field', () => {
    expect(
      problems({
        pools,
        rules: [
          { name: 'to-nowhere', when: { client: 'x' }, then: { pool: 'opus' } },
          { name: 'bad-re', when: { systemPrompt: { matches: '(' } }, then: { strategy: 'cost' } },
          { name: 'unknown-dep', when: {}, then: { deployments: ['zz'] } },
          { name: 'nothing', when: {}, then: {} },
          { name: 'to-nowhere', when: {}, then: { reject: { status: 403, message: 'no' }, pool: 'haiku' } },
        ],
      }),
    ).toEqual([
      'rules[0] (to-nowhere).then.pool: no pool named "opus"',
      'rules[2] (unknown-dep).then.deployments: no deployment "zz"',
      'rules[3] (nothing).then: give pool, deployments, strategy or reject',
      'rules[4] (to-nowhere): duplicate rule name',
      'rules[4] (to-nowhere).then: reject stands alone',
      expect.stringMatching(/^rules\[1\] \(bad-re\)\.when: Invalid regular expression/),
    ])
    expect(problems({ pools, rules: [{ name: 'x', when: { colour: 'red' }, then: { pool: 'haiku' } }] })[0]).toMatch(/^rules\[0\]\.when: a condition is/)
  })

  it('experiments and custom strategies are checked against the pools', () => {
    expect(
      problems({
        pools: {
          ...pools,
          sonnet: { ...pools.sonnet, strategy: 'custom', experiment: { name: 'e', arms: [{ name: 'a', strategy: 'cost' }, { name: 'a', pool: 'opus' }, { name: 'b' }] } },
        },
      }),
    ).toEqual([
      'pools.sonnet.custom: the custom strategy needs a custom section (url, binding or function)',
      'pools.sonnet.experiment.arms[1].name: duplicate arm "a"',
      'pools.sonnet.experiment.arms[1].pool: no pool named "opus"',
      'pools.sonnet.experiment.arms[2]: an arm sets a strategy or a pool',
    ])
    expect(problems({ pools: { ...pools, sonnet: { ...pools.sonnet, strategy: 'custom', custom: { url: 'http://127.0.0.1:1/x', function: 'f' } } } })).toEqual([
      'pools.sonnet.custom: give exactly one of url, binding, function',
    ])
    const ok = parseRouterConfig({ pools: { ...pools, sonnet: { ...pools.sonnet, strategy: 'custom', custom: { url: 'http://127.0.0.1:1/x' } } } })
    expect(ok.pools.sonnet.custom).toEqual({ url: 'http://127.0.0.1:1/x', timeoutMs: 50, fallback: 'weighted' })
  })
})

describe('experiments', () => {
  const experiment = { name: 'lat-vs-cost', arms: [{ name: 'latency', weight: 1, strategy: 'latency' as const }, { name: 'cost', weight: 3, strategy: 'cost' as const }], sticky: 'client' as const }

  it('sticky: the same key always lands in the same arm; keys spread by weight', () => {
    const counts = { latency: 0, cost: 0 }
    for (let i = 0; i < 4000; i++) {
      const arm = assignArm(experiment, `user-${i}`, () => 0.99)
      expect(assignArm(experiment, `user-${i}`, () => 0.01).name).toBe(arm.name) // the draw is not used with a key
      counts[arm.name as 'latency' | 'cost']++
    }
    expect(counts.latency / 4000).toBeGreaterThan(0.22)
    expect(counts.latency / 4000).toBeLessThan(0.28)
  })

  it('the sticky key: client, header or tag; without one each request is drawn', () => {
    const f = features()
    expect(stickyKey(experiment, f)).toBe('team-a')
    expect(stickyKey({ ...experiment, sticky: 'header:X-Tier' }, f)).toBe('gold')
    expect(stickyKey({ ...experiment, sticky: 'tag:team' }, f)).toBe('search')
    expect(stickyKey({ ...experiment, sticky: undefined }, f)).toBeUndefined()
    expect(assignArm(experiment, undefined, () => 0.1).name).toBe('latency')
    expect(assignArm(experiment, undefined, () => 0.5).name).toBe('cost')
    expect(unitHash('a')).not.toBe(unitHash('b'))
  })
})
