/**
 * Per-client rpm/tpm limits that hold across isolates, on the same machinery as deployments' limits: a client with
 * limits gets a pool of its own in the state store (`client:<kind>:<name>`, sharded like any pool — one Durable
 * Object or KV key per client), holding one window whose rpm/tpm are the client's. The engine acquires it in
 * parallel with the request's first routing decision (one round trip of latency), refuses with 429 and the time
 * until the window frees when it is full, and settles it once from the request's real usage (tokens counted as
 * input + output, no burndown: a client's tpm is the tokens it used).
 */
import type { ClientIdentity } from '../auth/identity'
import type { DeploymentConfig, PoolConfig } from '../config/types'
import { DEFAULT_BREAKER } from '../config/schema'

export const CLIENT_WINDOW = 'window'

const cache = new Map<string, PoolConfig>()

/** The limit pool of a client, or undefined when it has no rpm/tpm. */
export function clientLimitPool(identity: ClientIdentity | undefined): PoolConfig | undefined {
  const rpm = identity?.scope.rpm
  const tpm = identity?.scope.tpm
  if (!identity || (rpm === undefined && tpm === undefined)) return undefined
  const name = `client:${identity.kind}:${identity.name}`
  const key = `${name}\n${rpm}\n${tpm}`
  let pool = cache.get(key)
  if (!pool) {
    if (cache.size > 1024) cache.clear()
    const window: DeploymentConfig = {
      id: CLIENT_WINDOW,
      modelId: 'client-limit',
      region: 'global',
      weight: 1,
      fallback: false,
      endpoint: '',
      family: 'client',
      burndown: 1,
      ...(rpm !== undefined ? { rpm: Math.max(1, Math.floor(rpm)) } : {}),
      ...(tpm !== undefined ? { tpm: Math.max(1, Math.floor(tpm)) } : {}),
    }
    pool = {
      name,
      strategy: 'rate-limit-aware',
      deployments: [window],
      maxAttempts: 1,
      timeoutMs: 300_000,
      attemptTimeoutMs: 120_000,
      ttfbTimeoutMs: 30_000,
      streamIdleTimeoutMs: 60_000,
      maxQueueMs: 0,
      maxPacingMs: 0,
      breaker: DEFAULT_BREAKER,
      latencyTtlMs: 300_000,
      exploration: 0,
    }
    cache.set(key, pool)
  }
  return pool
}
