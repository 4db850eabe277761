/**
 * AWS Signature Version 4, signed in headers, for the router's upstream calls (a POST with a body). It computes
 * what aws4fetch's signer computes for such a request, byte for byte: sigv4.test.ts compares the two on random
 * requests and on AWS's own test vectors, and the Bedrock simulator verifies every signature with @smithy's
 * independent signer. Written here because it sits on every attempt's path: what is the same on every call is
 * worked out once — each URL's host and canonical path, the day's signing key imported as a CryptoKey, the
 * timestamp per second — where aws4fetch builds a URL and a Headers object, sorts and encodes them and imports an
 * HMAC key for every signature (≈ 40 µs a signature in workerd against ≈ 14 µs here: BENCHMARKS.md §3).
 * Only WebCrypto; time is a parameter.
 */

/** The key that signs: an access key, or temporary credentials with their session token. */
export interface SigV4Credentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export interface SigV4Request {
  url: string
  /** Headers to send, lower-case names. */
  headers: Record<string, string>
  /** The exact bytes sent: their SHA-256 is signed. */
  body: Uint8Array<ArrayBuffer>
  credentials: SigV4Credentials
  region: string
  /** The signing name: `bedrock` for Bedrock Runtime (not the host's `bedrock-runtime`). */
  service: string
  /** Epoch ms (default: now). */
  now?: number
}

/**
 * Headers left out of the signature, as aws4fetch leaves them out: ones a proxy or the runtime may set or change on
 * the way (the runtime sets content-length itself), so a signature never depends on them.
 */
const UNSIGNED = new Set(['authorization', 'content-type', 'content-length', 'user-agent', 'presigned-expires', 'expect', 'x-amzn-trace-id', 'range', 'connection'])

const utf8 = new TextEncoder()
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function hex(buffer: ArrayBuffer): string {
  const bytes = new Uint8Array(buffer)
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]]
  return out
}

const sha256Hex = async (data: Uint8Array<ArrayBuffer>) => hex(await crypto.subtle.digest('SHA-256', data))

/** Percent-encodes what encodeURIComponent leaves and RFC 3986 reserves. */
const rfc3986 = (text: string) => text.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

interface Target {
  /** `host[:port]` as signed (the runtime sends the same Host). */
  host: string
  /** The canonical URI: the path as sent, encoded once more (every service but S3 signs it so). */
  path: string
  /** The canonical query string (empty for Bedrock's paths). */
  query: string
}

/** Per URL: a router has a handful (deployment × operation). Bounded: cleared past a thousand. */
const targets = new Map<string, Target>()

function targetOf(url: string): Target {
  let target = targets.get(url)
  if (target) return target
  const parsed = new URL(url)
  const params: Array<[string, string]> = []
  parsed.searchParams.forEach((value, name) => void params.push([name, value]))
  const query = params
    .filter(([name]) => name !== '')
    .map(([name, value]) => [rfc3986(encodeURIComponent(name)), rfc3986(encodeURIComponent(value))])
    .sort(([k1, v1], [k2, v2]) => (k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
  target = { host: parsed.host, path: rfc3986(encodeURIComponent(parsed.pathname.replace(/\/+/g, '/')).replace(/%2F/g, '/')), query }
  if (targets.size >= 1024) targets.clear()
  targets.set(url, target)
  return target
}

/**
 * Derived signing keys, by secret, date, region and service: derived (four HMACs) once a day per credential and
 * region and kept as a CryptoKey ready to sign. Bounded: cleared past a few hundred. The promise is kept, so
 * concurrent first signatures derive once.
 */
const signingKeys = new Map<string, Promise<CryptoKey>>()

const importHmac = (raw: BufferSource) => crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])

async function deriveKey(secret: string, date: string, region: string, service: string): Promise<CryptoKey> {
  let raw: ArrayBuffer = utf8.encode(`AWS4${secret}`).buffer as ArrayBuffer
  for (const part of [date, region, service, 'aws4_request']) raw = await crypto.subtle.sign('HMAC', await importHmac(raw), utf8.encode(part))
  return importHmac(raw)
}

function signingKey(secret: string, date: string, region: string, service: string): Promise<CryptoKey> {
  const cacheKey = `${date}/${region}/${service}/${secret}`
  let key = signingKeys.get(cacheKey)
  if (!key) {
    if (signingKeys.size >= 512) signingKeys.clear()
    key = deriveKey(secret, date, region, service)
    signingKeys.set(cacheKey, key)
    key.catch(() => signingKeys.delete(cacheKey))
  }
  return key
}

/** `YYYYMMDDTHHMMSSZ`, made once per second. */
let stampSecond = Number.NaN
let stamp = ''
function amzDate(nowMs: number): string {
  const second = Math.floor(nowMs / 1000)
  if (second !== stampSecond) {
    stamp = new Date(second * 1000).toISOString().replace(/[:-]|\.\d{3}/g, '')
    stampSecond = second
  }
  return stamp
}

/** A header value as signed: HTTP whitespace trimmed at the ends (as a Headers object does), inner runs made one space. */
const canonicalValue = (value: string) => value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '').replace(/\s+/g, ' ')

/** The headers to send: the request's own (lower-cased), `x-amz-date`, the session token if any, and `authorization`. */
export async function signSigV4(req: SigV4Request): Promise<Record<string, string>> {
  const { host, path, query } = targetOf(req.url)
  const datetime = amzDate(req.now ?? Date.now())
  const date = datetime.slice(0, 8)
  const headers: Record<string, string> = {}
  for (const name in req.headers) headers[name.toLowerCase()] = req.headers[name]
  // The runtime sends the URL's host; a Host of the caller's is neither signed nor sent.
  delete headers.host
  headers['x-amz-date'] = datetime
  if (req.credentials.sessionToken) headers['x-amz-security-token'] = req.credentials.sessionToken
  const names = ['host']
  for (const name in headers) if (!UNSIGNED.has(name)) names.push(name)
  names.sort()
  let canonicalHeaders = ''
  for (const name of names) canonicalHeaders += `${name}:${name === 'host' ? host : canonicalValue(headers[name])}\n`
  const signedHeaders = names.join(';')
  const canonicalRequest = `POST\n${path}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${await sha256Hex(req.body)}`
  const scope = `${date}/${req.region}/${req.service}/aws4_request`
  const stringToSign = `AWS4-HMAC-SHA256\n${datetime}\n${scope}\n${await sha256Hex(utf8.encode(canonicalRequest))}`
  const key = await signingKey(req.credentials.secretAccessKey, date, req.region, req.service)
  const signature = hex(await crypto.subtle.sign('HMAC', key, utf8.encode(stringToSign)))
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${req.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
  return headers
}
