/**
 * Upstream signing, run inside workerd against the Bedrock simulator, whose SigV4 verifier (@smithy/signature-v4) is
 * independent of the router's signer (./sigv4.ts) and of aws4fetch (the tampering test's client).
 */
import { AwsClient } from 'aws4fetch'
import { beforeEach, describe, expect, inject, it } from 'vitest'
import type { DeploymentConfig } from '../config/types'
import { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { readUpstreamError, sendToBedrock, upstreamUrl } from './bedrock'
import type { Credentials } from './credentials'

const sim = inject('simulator')
const control = (path: string, body?: unknown) =>
  fetch(`${sim.controlUrl}${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json() as Promise<any>)

const sigv4: Credentials = { kind: 'sigv4', accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY }
const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'sign me' }] }] })

function deployment(modelId: string, region = 'us-west-2'): DeploymentConfig {
  return { id: 'd', modelId, region, weight: 1, fallback: false, endpoint: sim.endpoints[region], family: 'anthropic' }
}

const send = (d: DeploymentConfig, credentials: Credentials = sigv4, operation: 'converse' | 'converse-stream' = 'converse') =>
  sendToBedrock({ deployment: d, credentials, operation, body, signal: new AbortController().signal })

beforeEach(() => control('/__sim/reset', {}))

describe('SigV4 signing as the simulator verifies it', () => {
  const ids = [
    'us.anthropic.claude-sonnet-4-6',
    'anthropic.claude-3-haiku-20240307-v1:0',
    'arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123',
    'arn:aws:bedrock:us-west-2:123456789012:default-prompt-router/anthropic.claude:1',
  ]
  for (const id of ids) {
    it(`is accepted for ${id}`, async () => {
      const res = await send(deployment(id))
      expect(res.status, await res.clone().text()).toBe(200)
      const { requests } = await control('/__sim/requests')
      expect(requests[0].modelId).toBe(id)
      expect(requests[0].path).toBe(`/model/${encodeURIComponent(id)}/converse`)
      expect(requests[0].auth).toMatchObject({ scheme: 'sigv4', service: 'bedrock', region: 'us-west-2' })
    })
  }

  it('puts the model ID fully percent-encoded in the path', () => {
    expect(upstreamUrl(deployment('a:b/c'), 'converse-stream')).toBe(`${sim.endpoints['us-west-2']}/model/a%3Ab%2Fc/converse-stream`)
  })

  it('streams with the eventstream content type', async () => {
    const res = await send(deployment('us.anthropic.claude-sonnet-4-6'), sigv4, 'converse-stream')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    await res.arrayBuffer()
  })

  it('is refused with a wrong secret', async () => {
    const res = await send(deployment('us.anthropic.claude-sonnet-4-6'), { ...sigv4, secretAccessKey: 'wrong' } as Credentials)
    expect(res.status).toBe(403)
    expect((await readUpstreamError(res)).errorType).toBe('InvalidSignatureException')
  })

  it('is refused when the signed request is tampered with', async () => {
    const d = deployment('us.anthropic.claude-sonnet-4-6')
    const signer = new AwsClient({ accessKeyId: DEMO_ACCESS_KEY_ID, secretAccessKey: DEMO_SECRET_ACCESS_KEY, service: 'bedrock', region: d.region, retries: 0 })
    const signed = await signer.sign(upstreamUrl(d, 'converse'), { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    // Untampered: accepted (the control for this test).
    expect((await fetch(signed.url, { method: "POST", headers: signed.headers, body })).status).toBe(200)
    const tamperedBody = await fetch(signed.url, { method: 'POST', headers: signed.headers, body: body.replace('sign me', 'sign you') })
    expect(tamperedBody.status).toBe(403)
    const tamperedPath = await fetch(signed.url.replace('claude-sonnet-4-6', 'claude-sonnet-4-5'), { method: 'POST', headers: signed.headers, body })
    expect(tamperedPath.status).toBe(403)
    const otherRegion = await fetch(signed.url.replace(sim.endpoints['us-west-2'], sim.endpoints['us-east-1']), { method: 'POST', headers: signed.headers, body })
    expect(otherRegion.status).toBe(403)
  })
})

describe('Bedrock API key upstream', () => {
  it('sends Authorization: Bearer and is accepted; a wrong key is refused', async () => {
    expect((await send(deployment('amazon.nova-micro-v1:0'), { kind: 'bearer', token: DEMO_API_KEY })).status).toBe(200)
    const res = await send(deployment('amazon.nova-micro-v1:0'), { kind: 'bearer', token: 'bedrock-api-key-wrong' })
    expect(res.status).toBe(403)
  })
})

describe('upstream error reading', () => {
  it('reads x-amzn-ErrorType with its coral suffix, the message and Retry-After', async () => {
    await control('/__sim/rules', { fault: 'throttle', retryAfterSeconds: 2 })
    const res = await send(deployment('us.anthropic.claude-sonnet-4-6'))
    expect(res.status).toBe(429)
    expect(await readUpstreamError(res)).toMatchObject({ status: 429, errorType: 'ThrottlingException', message: 'Too many requests, please wait before trying again.', retryAfterMs: 2000 })
  })

  it('treats HTTP 200 with an Output.__type body as an error', async () => {
    const res = new Response('{"Output":{"__type":"com.amazon.coral.service#UnknownOperationException"},"Version":"1.0"}', { status: 200 })
    expect(await readUpstreamError(res)).toMatchObject({ status: 404, errorType: 'UnknownOperationException' })
  })
})
