/**
 * The router's SigV4 signer against two references: AWS's own test vectors (aws-sig-v4-test-suite, the POST cases),
 * and aws4fetch's signer on a few hundred random requests (model IDs, endpoints, headers, session tokens, bodies) at
 * the same instant. The Bedrock simulator's verifier (@smithy/signature-v4) checks it end to end in bedrock.test.ts.
 */
import { AwsV4Signer } from 'aws4fetch'
import { describe, expect, it } from 'vitest'
import { signSigV4 } from './sigv4'

const SUITE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }
const SUITE_TIME = Date.UTC(2015, 7, 30, 12, 36, 0)
const suiteSign = (url: string, headers: Record<string, string> = {}) =>
  signSigV4({ url, headers, body: new Uint8Array(), credentials: SUITE, region: 'us-east-1', service: 'service', now: SUITE_TIME })
const signatureOf = (authorization: string) => /Signature=([0-9a-f]{64})$/.exec(authorization)?.[1]

describe('SigV4: AWS test suite (POST cases)', () => {
  it('post-vanilla', async () => {
    const h = await suiteSign('https://example.amazonaws.com/')
    expect(h['x-amz-date']).toBe('20150830T123600Z')
    expect(h.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b',
    )
  })

  it('post-vanilla-query', async () => {
    expect(signatureOf((await suiteSign('https://example.amazonaws.com/?Param1=value1')).authorization)).toBe('28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11')
  })

  it('post-header-key-sort (and a Host of the caller’s is replaced by the URL’s)', async () => {
    const h = await suiteSign('https://example.amazonaws.com/', { 'My-Header1': 'value1', host: 'elsewhere.example' })
    expect(h.authorization).toContain('SignedHeaders=host;my-header1;x-amz-date,')
    expect(signatureOf(h.authorization)).toBe('c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c')
    expect(h.host).toBeUndefined()
  })

  it('a wrong secret, date or region gives another signature (the vectors are not matched by accident)', async () => {
    const base = signatureOf((await suiteSign('https://example.amazonaws.com/')).authorization)
    const other = (over: Partial<Parameters<typeof signSigV4>[0]>) =>
      signSigV4({ url: 'https://example.amazonaws.com/', headers: {}, body: new Uint8Array(), credentials: SUITE, region: 'us-east-1', service: 'service', now: SUITE_TIME, ...over }).then((h) => signatureOf(h.authorization))
    expect(await other({ credentials: { ...SUITE, secretAccessKey: 'x' } })).not.toBe(base)
    expect(await other({ now: SUITE_TIME + 86_400_000 })).not.toBe(base)
    expect(await other({ region: 'us-west-2' })).not.toBe(base)
    expect(await other({ body: new Uint8Array([1]) })).not.toBe(base)
  })
})

/** A small deterministic PRNG (mulberry32): the same requests on every run. */
function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

describe('SigV4: the same headers as aws4fetch on random requests', () => {
  const random = rng(18)
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]
  const chars = 'abcAZ09.-_:/@+~!*()\' %é中'
  const word = (n: number) => Array.from({ length: 1 + Math.floor(random() * n) }, () => pick([...chars])).join('')
  const endpoints = ['https://bedrock-runtime.us-east-1.amazonaws.com', 'http://127.0.0.1:8787', 'https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com', 'http://localhost:9/prefix']
  const operations = ['converse', 'converse-stream', 'invoke', 'invoke-with-response-stream', 'count-tokens']
  const headerNames = ['x-amzn-bedrock-trace', 'x-amzn-bedrock-guardrailidentifier', 'x-amzn-bedrock-performanceconfig-latency', 'accept', 'content-type', 'user-agent', 'x-custom']

  it('agrees on 300 requests', async () => {
    for (let i = 0; i < 300; i++) {
      const url = `${pick(endpoints)}/model/${encodeURIComponent(word(40))}/${pick(operations)}`
      const headers: Record<string, string> = {}
      for (const name of headerNames) if (random() < 0.5) headers[name] = `${random() < 0.2 ? ' ' : ''}${word(12).replace(/[^\x20-\x7e]/g, 'x')}${random() < 0.2 ? '  \t x ' : ''}`
      const body = new TextEncoder().encode(JSON.stringify({ messages: [{ role: 'user', content: [{ text: word(200) }] }] }))
      const credentials = { accessKeyId: `AKID${i}`, secretAccessKey: `secret/${word(20)}`, ...(random() < 0.3 ? { sessionToken: `token-${word(30).replace(/[^\x21-\x7e]/g, 'x')}` } : {}) }
      const region = pick(['us-east-1', 'eu-west-1', 'ap-northeast-1'])
      const now = Date.UTC(2026, 11, 2) + Math.floor(random() * 86_400_000 * 3)
      const ours = await signSigV4({ url, headers, body, credentials, region, service: 'bedrock', now })
      const reference = await new AwsV4Signer({ method: 'POST', url, headers, body, ...credentials, service: 'bedrock', region, datetime: ours['x-amz-date'] }).sign()
      const expected: Record<string, string> = {}
      reference.headers.forEach((value, name) => (expected[name] = value))
      // Values as a Headers object holds them (ends trimmed): what fetch sends of ours.
      const got = Object.fromEntries(Object.entries(ours).map(([k, v]) => [k, new Headers({ [k]: v }).get(k)]))
      expect(got, `request ${i}: ${url} ${JSON.stringify(headers)}`).toEqual(expected)
      expect(new URL(reference.url).href).toBe(new URL(url).href)
    }
  })
})
