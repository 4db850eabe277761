/**
 * Per-client limits that hold across isolates — rpm, tpm and USD budgets per day and month — on the same machinery as
 * deployments' limits: a client with limits gets a pool of its own in the state store (`client:<kind>:<name>`, and
 * `client:team:<team>` for what a team shares; sharded like any pool, one Durable Object or KV key each), holding one
 * window whose limits and budgets are the client's (routing/window.ts, routing/budget.ts). The engine acquires them
 * in parallel with the request's first routing decision (one round trip of latency), refuses with 429 and the time
 * until the window frees or the budget period resets when one is full, and settles each once from the request's real
 * usage and cost (tokens counted as input + output, no burndown: a client's tpm is the tokens it used).
 */
import type { ClientIdentity } from '../auth/identity'
import type { DeploymentConfig, PoolConfig, TeamLimits } from '../config/types'
import { DEFAULT_BREAKER } from '../config/schema'

export const CLIENT_WINDOW = 'window'

const cache = new Map<string, PoolConfig>()

/** The limit pools of a client: its own, then its team's — each only when it has limits. */
export function clientLimitPools(identity: ClientIdentity | undefined): PoolConfig[] {
  if (!identity) return []
  const pools: PoolConfig[] = []
  const own = limitPool(`client:${identity.kind}:${identity.name}`, identity.scope)
  if (own) pools.push(own)
  if (identity.team !== undefined && identity.teamLimits) {
    const team = limitPool(`client:team:${identity.team}`, identity.teamLimits)
    if (team) pools.push(team)
  }
  return pools
}

function limitPool(name: string, limits: TeamLimits): PoolConfig | undefined {
  const { rpm, tpm, budgetUsdPerDay, budgetUsdPerMonth } = limits
  if (rpm === undefined && tpm === undefined && budgetUsdPerDay === undefined && budgetUsdPerMonth === undefined) return undefined
  const key = `${name}\n${rpm}\n${tpm}\n${budgetUsdPerDay}\n${budgetUsdPerMonth}`
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
      ...(budgetUsdPerDay !== undefined ? { budgetUsdPerDay } : {}),
      ...(budgetUsdPerMonth !== undefined ? { budgetUsdPerMonth } : {}),
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
