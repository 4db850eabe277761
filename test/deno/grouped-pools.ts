/** Two pools, `chat` and `batch`, of one deployment each, whose deployments share one quota group of `rpm`. */
import { parseRouterConfig } from '../../src/config/schema'

export function groupedPools(rpm: number) {
  const member = (id: string) => ({ id, modelId: 'amazon.nova-micro-v1:0', region: 'us-east-1', rpm, quotaGroup: 'use1' })
  return parseRouterConfig({ pools: { chat: { strategy: 'rate-limit-aware', deployments: [member('chat-1')] }, batch: { strategy: 'rate-limit-aware', deployments: [member('batch-1')] } } }).pools
}
