/** Demo mode: the built-in Bedrock simulator in three regions, and a config that routes to it. */
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { startSimulator } from '../simulator/node-server'

export async function demoConfig() {
  const simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2', 'eu-west-1'] })
  const e = simulator.endpoints
  const config = {
    pools: {
      demo: {
        strategy: 'weighted',
        deployments: [
          { id: 'sonnet-use1', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-east-1', weight: 3, endpoint: e['us-east-1'] },
          { id: 'sonnet-usw2', modelId: 'us.anthropic.claude-sonnet-4-6', region: 'us-west-2', weight: 1, endpoint: e['us-west-2'] },
          { id: 'haiku-euw1', modelId: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0', region: 'eu-west-1', fallback: true, endpoint: e['eu-west-1'] },
        ],
      },
      'demo-limits': {
        strategy: 'rate-limit-aware',
        deployments: [
          { id: 'nova-use1', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', rpm: 60, tpm: 200000, endpoint: e['us-east-1'] },
          { id: 'nova-usw2', modelId: 'us.amazon.nova-lite-v1:0', region: 'us-west-2', rpm: 30, tpm: 100000, endpoint: e['us-west-2'] },
        ],
      },
    },
  }
  return {
    simulator,
    config,
    clientKey: 'demo-key',
    credentialsEnv: { AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: undefined, AWS_BEARER_TOKEN_BEDROCK: undefined },
  }
}
