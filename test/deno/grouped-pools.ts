/** Two pools, `chat` and `batch`, of one deployment each, whose deployments share one quota group of `rpm` (with `leases`, both lease). */
import { parseRouterConfig } from '../../src/config/schema'

export function groupedPools(rpm: number, leases?: { renewMs: number }) {
  const member = (id: string) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm, quotaGroup: 'use1' })
  const pool = (id: string) => ({ strategy: 'rate-limit-aware', ...(leases ? { leases } : {}), deployments: [member(id)] })
  return parseRouterConfig({ pools: { chat: pool('chat-1'), batch: pool('batch-1') } }).pools
}
