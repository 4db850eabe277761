import { describe, expect, it } from 'vitest'
import { DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from './demo-credentials'
import { createSimulator } from './handler'
import { BASE, NOVA, PROFILE_ARN, bearer, client, errorTypeOf, signed, tamper, userBody } from './test-helpers'
import { signSigV4 } from '../src/upstream/sigv4'

const sim = createSimulator({
  credentials: {
    AKIDSIMULATOR00000001: { secretAccessKey: DEMO_SECRET_ACCESS_KEY },
    ASIASESSION000000001: { secretAccessKey: 'session-secret', sessionToken: 'the-session-token' },
  },
})
const call = (req: Request, region = 'us-east-1') => sim.fetch(req, region)

async function expect403(res: Response, errorType: string, message?: RegExp) {
  expect(res.status).toBe(403)
  expect(errorTypeOf(res)).toBe(errorType)
  expect(res.headers.get('x-amzn-errortype')).toBe(`${errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/`)
  expect(res.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/)
  const body = (await res.json()) as { message: string }
  if (message) expect(body.message).toMatch(message)
  else expect(typeof body.message).toBe('string')
}

describe('SigV4 verification (aws4fetch as the client signer)', () => {
  it('accepts a model ID with ":" sent as %3A', async () => {
    const req = await signed(NOVA)
    expect(new URL(req.url).pathname).toBe('/model/us.amazon.nova-micro-v1%3A0/converse')
    const res = await call(req)
    expect(res.status).toBe(200)
    expect(((await res.json()) as any).output.message.content[0].text).toBe(`Hello from us-east-1 (model ${NOVA}).`)
  })

  it('accepts an ARN model ID with "/" sent as %2F, and the stream operation', async () => {
    const res = await call(await signed(PROFILE_ARN, userBody(), { stream: true }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/vnd.amazon.eventstream')
    await res.body!.cancel()
  })

  it('accepts session credentials and records a printable auth summary', async () => {
    const res = await call(
      await signed(NOVA, userBody(), { accessKeyId: 'ASIASESSION000000001', secretAccessKey: 'session-secret', sessionToken: 'the-session-token', region: 'us-west-2' }),
      'us-west-2',
    )
    expect(res.status).toBe(200)
    const rec = sim.requests({ region: 'us-west-2' }).at(-1)!
    expect(rec.auth).toMatchObject({ scheme: 'sigv4', accessKeyId: 'ASIASESSION000000001', region: 'us-west-2', service: 'bedrock' })
    expect(rec.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIASESSION000000001\//)
    expect(JSON.stringify(rec)).not.toContain('Signature=')
    expect(Object.keys(rec)).not.toContain('authorization')
  })

  it('rejects a missing or wrong session token', async () => {
    const good = await signed(NOVA, userBody(), { accessKeyId: 'ASIASESSION000000001', secretAccessKey: 'session-secret', sessionToken: 'the-session-token' })
    const headers = new Headers(good.headers)
    headers.delete('x-amz-security-token')
    await expect403(await call(new Request(good.url, { method: 'POST', headers, body: userBody() })), 'UnrecognizedClientException')
    const wrong = await signed(NOVA, userBody(), { accessKeyId: 'ASIASESSION000000001', secretAccessKey: 'session-secret', sessionToken: 'other-token' })
    await expect403(await call(wrong), 'UnrecognizedClientException', /security token included in the request is invalid/)
  })

  it('rejects a model ID sent with a raw ":" (signed single-encoded), as Bedrock does', async () => {
    const req = await client().sign(`${BASE}/model/${NOVA}/converse`, { method: 'POST', body: userBody() })
    expect(new URL(req.url).pathname).toContain('nova-micro-v1:0')
    await expect403(await call(req), 'InvalidSignatureException', /signature we calculated does not match/)
  })

  it('rejects a tampered body', async () => {
    const req = await signed(NOVA, userBody('original'))
    await expect403(await call(await tamper(req, { body: userBody('changed!') })), 'InvalidSignatureException', /does not match/)
  })

  it('rejects a tampered path (other model)', async () => {
    const req = await signed(NOVA)
    await expect403(await call(await tamper(req, { url: req.url.replace('nova-micro', 'nova-pro') })), 'InvalidSignatureException')
  })

  it('rejects a tampered signed header', async () => {
    const req = await signed(NOVA, userBody(), { headers: { 'x-amz-user-agent': 'router/1' } })
    expect(req.headers.get('authorization')).toContain('x-amz-user-agent')
    await expect403(await call(await tamper(req, { headers: { 'x-amz-user-agent': 'evil/2' } })), 'InvalidSignatureException')
  })

  it('ignores unsigned headers (content-type is not signed by aws4fetch)', async () => {
    const req = await signed(NOVA)
    const res = await call(await tamper(req, { headers: { 'content-type': 'application/x-other', 'x-unsigned': '1' } }))
    expect(res.status).toBe(200)
  })

  it('rejects a wrong secret', async () => {
    await expect403(await call(await signed(NOVA, userBody(), { secretAccessKey: 'not-the-secret' })), 'InvalidSignatureException', /does not match/)
  })

  it('rejects an unknown access key', async () => {
    await expect403(await call(await signed(NOVA, userBody(), { accessKeyId: 'AKIDUNKNOWN000000000' })), 'UnrecognizedClientException')
  })

  it('rejects a signature scoped to another region', async () => {
    const req = await signed(NOVA, userBody(), { region: 'us-west-2' })
    await expect403(await call(req, 'us-east-1'), 'InvalidSignatureException', /scoped to a valid region/)
    expect((await call(await signed(NOVA, userBody(), { region: 'us-west-2' }), 'us-west-2')).status).toBe(200)
  })

  it('rejects service bedrock-runtime (aws4fetch would guess it from the hostname)', async () => {
    await expect403(await call(await signed(NOVA, userBody(), { service: 'bedrock-runtime' })), 'InvalidSignatureException', /correct service: 'bedrock'/)
  })

  it('rejects a missing Authorization header', async () => {
    const res = await call(new Request(`${BASE}/model/${encodeURIComponent(NOVA)}/converse`, { method: 'POST', body: userBody() }))
    await expect403(res, 'MissingAuthenticationTokenException', /Missing Authentication Token/)
  })

  it('rejects an incomplete Authorization header', async () => {
    const req = await signed(NOVA)
    const auth = req.headers.get('authorization')!.replace(/, Signature=[0-9a-f]+/, '')
    await expect403(await call(await tamper(req, { headers: { authorization: auth } })), 'IncompleteSignatureException', /requires 'Signature'/)
  })

  it('rejects a request without X-Amz-Date', async () => {
    const req = await signed(NOVA)
    const headers = new Headers(req.headers)
    headers.delete('x-amz-date')
    await expect403(await call(new Request(req.url, { method: 'POST', headers, body: userBody() })), 'IncompleteSignatureException', /X-Amz-Date/)
  })

  it('rejects a signature older than 15 minutes', async () => {
    const late = createSimulator({ signingClock: () => Date.now() + 16 * 60_000 })
    await expect403(await late.fetch(await signed(NOVA), 'us-east-1'), 'InvalidSignatureException', /Signature expired/)
  })

  it('checks a signed x-amz-content-sha256 against the received body', async () => {
    const fake = 'a'.repeat(64)
    const req = await signed(NOVA, userBody(), { headers: { 'x-amz-content-sha256': fake } })
    await expect403(await call(req), 'InvalidSignatureException', /x-amz-content-sha256/)
  })
})

describe("SigV4 verification (the router's own signer, src/upstream/sigv4.ts)", () => {
  const send = async (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, modelId: string, region = 'us-east-1', headers: Record<string, string> = {}) => {
    const url = `${BASE}/model/${encodeURIComponent(modelId)}/converse`
    const body = new TextEncoder().encode(userBody('héllo, 世界'))
    const signedHeaders = await signSigV4({ url, headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body, credentials, region, service: 'bedrock' })
    return call(new Request(url, { method: 'POST', headers: signedHeaders, body }), region)
  }

  it('is accepted with long-term keys, for model IDs and ARNs, and with extra signed headers', async () => {
    for (const id of [NOVA, PROFILE_ARN]) expect((await send({ accessKeyId: 'AKIDSIMULATOR00000001', secretAccessKey: DEMO_SECRET_ACCESS_KEY }, id)).status).toBe(200)
    const res = await send({ accessKeyId: 'AKIDSIMULATOR00000001', secretAccessKey: DEMO_SECRET_ACCESS_KEY }, NOVA, 'us-east-1', { 'x-amzn-bedrock-trace': '  ENABLED  ' })
    expect(res.status).toBe(200)
  })

  it('is accepted with session credentials; a wrong token or secret is refused', async () => {
    const session = { accessKeyId: 'ASIASESSION000000001', secretAccessKey: 'session-secret', sessionToken: 'the-session-token' }
    expect((await send(session, NOVA, 'us-west-2')).status).toBe(200)
    await expect403(await send({ ...session, sessionToken: 'other-token' }, NOVA, 'us-west-2'), 'UnrecognizedClientException')
    await expect403(await send({ ...session, secretAccessKey: 'wrong' }, NOVA, 'us-west-2'), 'InvalidSignatureException')
  })
})

describe('Bearer API keys', () => {
  it('accepts a configured key', async () => {
    const res = await call(bearer(NOVA))
    expect(res.status).toBe(200)
    expect(sim.requests().at(-1)!.auth).toEqual({ scheme: 'bearer', keyHint: `…${DEMO_API_KEY.slice(-4)}` })
  })

  it('rejects an unknown key', async () => {
    await expect403(await call(bearer(NOVA, userBody(), 'bedrock-api-key-nope')), 'UnrecognizedClientException')
  })

  it('accepts unauthenticated requests only when requireAuth is false', async () => {
    const open = createSimulator({ requireAuth: false })
    const req = () => new Request(`${BASE}/model/m/converse`, { method: 'POST', body: userBody() })
    expect((await open.fetch(req(), 'us-east-1')).status).toBe(200)
    expect((await sim.fetch(req(), 'us-east-1')).status).toBe(403)
  })
})
