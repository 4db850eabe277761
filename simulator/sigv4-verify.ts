/**
 * SigV4 verification (header form, `AWS4-HMAC-SHA256`). The signature is recomputed with `@smithy/signature-v4`
 * over the request as received: the received path (see `normalisedPath`), which the signer double-encodes as for
 * every non-S3 service, the signed headers only with their received values, and the SHA-256 of the received body.
 */
import { SignatureV4 } from '@smithy/signature-v4'
import { awsError, type AwsError } from './errors'
import { WebCryptoSha256, sha256Hex } from './sha256'
import type { Credential } from './types'

export interface ReceivedRequest {
  method: string
  url: URL
  headers: Headers
  body: Uint8Array
}

export interface SigV4Expectations {
  region: string
  service: string
  credentials: Record<string, Credential>
  /** Current time (ms) for the 15-minute skew check. */
  now: number
  maxSkewMs?: number
}

export interface SigV4Identity {
  accessKeyId: string
  date: string
  region: string
  service: string
}

export type SigV4Result = { ok: true; identity: SigV4Identity } | { ok: false; error: AwsError }

const MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
const BAD_TOKEN = 'The security token included in the request is invalid.'

const invalid = (m: string): SigV4Result => ({ ok: false, error: awsError(403, 'InvalidSignatureException', m) })
const incomplete = (m: string): SigV4Result => ({ ok: false, error: awsError(403, 'IncompleteSignatureException', m) })
const unrecognized = (): SigV4Result => ({ ok: false, error: awsError(403, 'UnrecognizedClientException', BAD_TOKEN) })

interface ParsedAuth {
  accessKeyId: string
  scope: string[]
  signedHeaders: string[]
  signature: string
}

export function parseSigV4Authorization(value: string): ParsedAuth | string {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(value.trim())
  if (!m) return `Authorization header requires 'AWS4-HMAC-SHA256' algorithm.`
  const params = new Map<string, string>()
  for (const part of m[1].split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !params.get(k))
  if (missing.length) return missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ')
  const cred = params.get('Credential')!.split('/')
  if (cred.length !== 5 || cred.some((c) => c === '')) return 'Credential must have exactly 5 slash-delimited elements.'
  return {
    accessKeyId: cred[0],
    scope: cred.slice(1),
    signedHeaders: params.get('SignedHeaders')!.split(';').map((h) => h.trim().toLowerCase()),
    signature: params.get('Signature')!.toLowerCase(),
  }
}

const strictEncode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * The path as AWS normalises it before signing: each segment decoded and encoded once (the signer then encodes it
 * again). So `%3A` on the wire canonicalises to `%253A`, while a raw `:` canonicalises to `%253A` too — and no
 * longer matches a client that signed the raw `:` as `%3A`, just as real Bedrock rejects it.
 */
function normalisedPath(pathname: string): string | undefined {
  try {
    return pathname.split('/').map((seg) => strictEncode(decodeURIComponent(seg))).join('/')
  } catch {
    return undefined
  }
}

function parseAmzDate(v: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v)
  if (!m) return undefined
  const [, y, mo, d, h, mi, s] = m.map(Number)
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s))
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

export async function verifySigV4(req: ReceivedRequest, expect: SigV4Expectations): Promise<SigV4Result> {
  const parsed = parseSigV4Authorization(req.headers.get('authorization') ?? '')
  if (typeof parsed === 'string') return incomplete(parsed)
  const { accessKeyId, scope, signedHeaders, signature } = parsed
  const [scopeDate, scopeRegion, scopeService, terminator] = scope

  const amzDate = req.headers.get('x-amz-date')
  const date = amzDate ? parseAmzDate(amzDate) : undefined
  if (!amzDate || !date) {
    return incomplete(`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`)
  }
  if (!signedHeaders.includes('host')) return incomplete(`'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`)
  if (!signedHeaders.includes('x-amz-date')) return incomplete(`'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.`)
  if (terminator !== 'aws4_request') return invalid(`Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`)
  if (scopeService !== expect.service) return invalid(`Credential should be scoped to correct service: '${expect.service}'. `)
  if (scopeRegion !== expect.region) return invalid(`Credential should be scoped to a valid region. `)
  if (scopeDate !== amzDate.slice(0, 8)) {
    return invalid(`Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scopeDate}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`)
  }

  const cred = expect.credentials[accessKeyId]
  if (!cred) return unrecognized()
  const token = req.headers.get('x-amz-security-token')
  if ((cred.sessionToken ?? null) !== token) return unrecognized()
  if (token !== null && !signedHeaders.includes('x-amz-security-token')) return incomplete(`'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.`)

  const maxSkew = expect.maxSkewMs ?? 15 * 60_000
  if (Math.abs(expect.now - date.getTime()) > maxSkew) {
    return invalid(`Signature expired: ${amzDate} is now earlier or later than the allowed 15 min. skew.`)
  }

  const headers: Record<string, string> = {}
  for (const name of signedHeaders) {
    if (name === 'x-amz-date') continue // re-added by the signer from signingDate
    const value = name === 'host' ? (req.headers.get('host') ?? req.url.host) : req.headers.get(name)
    if (value === null) return invalid(MISMATCH)
    headers[name] = value
  }
  const declaredHash = headers['x-amz-content-sha256']
  if (declaredHash !== undefined && declaredHash !== (await sha256Hex(req.body))) {
    return invalid(`The provided 'x-amz-content-sha256' header does not match what was computed.`)
  }

  const path = normalisedPath(req.url.pathname)
  if (path === undefined) return invalid(MISMATCH)
  const query: Record<string, string | string[]> = {}
  for (const [k, v] of req.url.searchParams) {
    const prev = query[k]
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
  }

  const signer = new SignatureV4({
    service: scopeService,
    region: scopeRegion,
    credentials: { accessKeyId, secretAccessKey: cred.secretAccessKey },
    sha256: WebCryptoSha256,
    applyChecksum: false,
    uriEscapePath: true,
  })
  const signed = await signer.sign(
    {
      method: req.method.toUpperCase(),
      protocol: req.url.protocol,
      hostname: req.url.hostname,
      port: req.url.port ? Number(req.url.port) : undefined,
      path,
      query,
      headers,
      body: req.body,
    },
    { signingDate: date, signableHeaders: new Set(signedHeaders) },
  )
  const recomputed = parseSigV4Authorization(signed.headers['authorization'] ?? '')
  if (typeof recomputed === 'string') return invalid(MISMATCH)
  const sameHeaders = recomputed.signedHeaders.join(';') === [...signedHeaders].sort().join(';')
  if (!sameHeaders || !constantTimeEqual(recomputed.signature, signature)) return invalid(MISMATCH)
  return { ok: true, identity: { accessKeyId, date: scopeDate, region: scopeRegion, service: scopeService } }
}
