/**
 * Signs one Converse or ConverseStream request once, with the simulator's demo credentials, for paths that replay it
 * unchanged (direct, the passthrough floor): the simulator verifies the signature every time (for 15 minutes, as
 * Bedrock does), and the client pays nothing per request. The headers leave `host` out: the client sets it.
 */
import { AwsClient } from 'aws4fetch'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'

export async function presignConverse(endpoint: string, model: string, operation: 'converse' | 'converse-stream', body: string): Promise<{ url: string; path: string; headers: Record<string, string> }> {
  const path = `/model/${encodeURIComponent(model)}/${operation}`
  const url = `${endpoint}${path}`
  const aws = new AwsClient({ accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY, service: 'bedrock', region: 'us-east-1', retries: 0 })
  const accept = operation === 'converse' ? 'application/json' : 'application/vnd.amazon.eventstream'
  const signed = await aws.sign(url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body })
  const headers: Record<string, string> = {}
  signed.headers.forEach((v, k) => {
    if (k !== 'host') headers[k] = v
  })
  return { url, path, headers }
}
