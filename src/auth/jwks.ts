/**
 * Public keys of an identity provider, from its JWKS URL: fetched with a bounded time, cached, and fetched again
 * when a token names a key id the cache does not hold (key rotation) — at most once per REFRESH_MS, so a flood of
 * tokens with made-up key ids cannot turn into a flood of fetches.
 */
const TTL_MS = 10 * 60_000
const REFRESH_MS = 30_000
const FETCH_TIMEOUT_MS = 3_000

type Jwk = Record<string, unknown> & { kid?: string }

interface Entry {
  keys: Jwk[]
  fetchedAt: number
  pending?: Promise<Jwk[]>
}

const cache = new Map<string, Entry>()

/** The keys at `url` that a token with `kid` can be checked against (fetching or refreshing as needed). */
export async function jwksKeys(url: string, kid: string | undefined, now = Date.now(), fetcher: typeof fetch = fetch): Promise<Jwk[]> {
  let entry = cache.get(url)
  const stale = !entry || now - entry.fetchedAt > TTL_MS
  const unknownKid = entry && kid !== undefined && !entry.keys.some((k) => k.kid === kid) && now - entry.fetchedAt > REFRESH_MS
  if (stale || unknownKid) {
    if (!entry?.pending) {
      const pending = load(url, fetcher).then(
        (keys) => {
          cache.set(url, { keys, fetchedAt: now })
          return keys
        },
        (e) => {
          // A failed refresh keeps the keys we had (and waits REFRESH_MS before trying again).
          const old = cache.get(url)
          cache.set(url, { keys: old?.keys ?? [], fetchedAt: now })
          if (!old?.keys.length) throw e
          return old.keys
        },
      )
      entry = { keys: entry?.keys ?? [], fetchedAt: entry?.fetchedAt ?? 0, pending }
      cache.set(url, entry)
    }
    return entry.pending!
  }
  return entry!.keys
}

async function load(url: string, fetcher: typeof fetch): Promise<Jwk[]> {
  const res = await fetcher(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } })
  if (!res.ok) throw new Error(`the identity provider's JWKS answered HTTP ${res.status}`)
  const body = (await res.json()) as { keys?: unknown }
  if (!Array.isArray(body.keys)) throw new Error("the identity provider's JWKS has no keys array")
  return body.keys.filter((k): k is Jwk => typeof k === 'object' && k !== null)
}

/** For tests: forget every cached key set. */
export function clearJwksCache() {
  cache.clear()
}
