/**
 * Client authentication with static API keys (ROUTER_API_KEYS, comma-separated), presented as
 * `Authorization: Bearer <key>` — what AWS SDKs send when given a Bedrock API key. Keys are compared as
 * SHA-256 digests in constant time, so neither their content nor their length leaks through timing.
 */

const encoder = new TextEncoder()

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i]
  return diff === 0
}

export class ApiKeyVerifier {
  private readonly digests: Promise<Uint8Array[]>
  readonly count: number

  constructor(keys: string[]) {
    const clean = keys.map((k) => k.trim()).filter(Boolean)
    this.count = clean.length
    this.digests = Promise.all(clean.map(digest))
  }

  /** True when `authorization` is `Bearer <one of the keys>`. Every configured key is compared. */
  async verify(authorization: string | null | undefined): Promise<boolean> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    if (!match) return false
    const presented = await digest(match[1])
    let ok = false
    for (const d of await this.digests) ok = equalDigests(presented, d) || ok
    return ok
  }
}

let cached: { source: string; verifier: ApiKeyVerifier } | undefined

/** One verifier per isolate for the current ROUTER_API_KEYS value. */
export function apiKeyVerifier(source: string | undefined): ApiKeyVerifier {
  const value = source ?? ''
  if (!cached || cached.source !== value) cached = { source: value, verifier: new ApiKeyVerifier(value.split(',')) }
  return cached.verifier
}
