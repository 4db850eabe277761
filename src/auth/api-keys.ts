/**
 * Shared client keys (ROUTER_API_KEYS, comma-separated), presented as `Authorization: Bearer <key>` — what AWS SDKs
 * send when given a Bedrock API key (routes/auth.ts reads the header). Keys are compared as
 * SHA-256 digests in constant time, so neither their content nor their length leaks through timing.
 */

const encoder = new TextEncoder()

/** The SHA-256 of a presented key: what keys are compared as. */
export async function keyDigest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

/**
 * Digests of keys that authenticated lately, so a client does not pay a SHA-256 on every request. A pure
 * memo of the hash: what a digest matches is still decided against the config in force, so a revoked key
 * fails at once. Only keys that matched are remembered (a stranger's guesses cannot fill it), and it is
 * bounded; a hit reveals nothing the answer itself does not (the key is good).
 */
const recentDigests = new Map<string, Uint8Array>()
const MAX_RECENT_DIGESTS = 1024

export function recentDigest(text: string): Uint8Array | undefined {
  return recentDigests.get(text)
}

export function rememberDigest(text: string, digest: Uint8Array): void {
  if (recentDigests.has(text)) return
  if (recentDigests.size >= MAX_RECENT_DIGESTS) recentDigests.clear()
  recentDigests.set(text, digest)
}

/** Constant-time comparison of two digests. */
export function equalDigests(a: Uint8Array, b: Uint8Array): boolean {
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
    this.digests = Promise.all(clean.map(keyDigest))
  }

  /** True when the presented key's digest is one of the keys'. Every configured key is compared. */
  async matches(presented: Uint8Array): Promise<boolean> {
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
