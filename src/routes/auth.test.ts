import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../auth/scoped-keys'
import { authenticate } from './auth'
import { recentDigest } from '../auth/api-keys'

const scoped = async (key: string) => JSON.stringify({ pools: { p: { deployments: [{ id: 'd', modelId: 'amazon.nova-lite-v1:0', region: 'us-east-1' }] } }, clients: { keys: [{ name: 'team-a', sha256: await sha256Hex(key) }] } })

describe('authenticate: the memo of presented keys’ digests', () => {
  it('remembers only keys that matched, and a revoked key fails on the next request', async () => {
    const key = 'memo-key-aaaaaaaaaaaaaaaa'
    const env = { ROUTER_CONFIG: await scoped(key) }
    expect(await authenticate(`Bearer ${key}`, undefined, env)).toMatchObject({ name: 'team-a', kind: 'key' })
    expect(recentDigest(key)).toBeDefined()
    // Served from the memo: the same identity.
    expect(await authenticate(`Bearer ${key}`, undefined, env)).toMatchObject({ name: 'team-a', kind: 'key' })
    // The config no longer declares the key (another key's digest): refused although its digest is remembered.
    const revoked = { ROUTER_CONFIG: await scoped('some-other-key-bbbbbbbbbbbb') }
    expect(await authenticate(`Bearer ${key}`, undefined, revoked)).toMatchObject({ status: 401 })
    // A wrong key is refused and not remembered.
    expect(await authenticate('Bearer not-a-key-cccccccccccccc', undefined, env)).toMatchObject({ status: 401 })
    expect(recentDigest('not-a-key-cccccccccccccc')).toBeUndefined()
  })

  it('shared keys: remembered once accepted; removing one from ROUTER_API_KEYS refuses it', async () => {
    const env = { ROUTER_API_KEYS: 'shared-one-dddddddddd,shared-two-eeeeeeeeee' }
    expect(await authenticate('Bearer shared-two-eeeeeeeeee', undefined, env)).toMatchObject({ kind: 'shared-key' })
    expect(recentDigest('shared-two-eeeeeeeeee')).toBeDefined()
    expect(await authenticate('Bearer shared-two-eeeeeeeeee', undefined, { ROUTER_API_KEYS: 'shared-one-dddddddddd' })).toMatchObject({ status: 401 })
  })
})
