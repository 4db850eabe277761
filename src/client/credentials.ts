/**
 * Upstream credentials for the in-process router, in the forms code already has them: static keys, a Bedrock API key,
 * an AWS SDK credential provider (`fromNodeProviderChain()`, `fromIni()`, … — any async function returning
 * `{accessKeyId, secretAccessKey, sessionToken?, expiration?}`), or the process environment. They become the
 * environment variables the router reads (upstream/credentials.ts), so signing is the worker's own.
 */
import { credentialSuffix } from '../upstream/credentials'

export interface StaticKeys {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  /** When temporary keys expire (a provider's answer): fetched again a minute before. */
  expiration?: Date
}

/** A Bedrock API key. */
export interface BearerToken {
  token: string
}

export type CredentialSource = StaticKeys | BearerToken | (() => Promise<StaticKeys | BearerToken> | StaticKeys | BearerToken)

/**
 * `credentials`: one source for every deployment, or one per credential set a deployment names (`"credentials":
 * "prod"` → `credentials.prod`; `default` for deployments that name none). Unset: the process environment
 * (AWS_ACCESS_KEY_ID, …, as the worker reads it).
 */
export type CredentialsOption = CredentialSource | Record<string, CredentialSource>

const REFRESH_BEFORE_MS = 60_000

function isSource(v: unknown): v is CredentialSource {
  return typeof v === 'function' || (typeof v === 'object' && v !== null && ('accessKeyId' in v || 'token' in v))
}

/** Resolves credentials into env variables, caching what a provider returns until shortly before it expires. */
export class CredentialEnv {
  private readonly sources: Array<[string | undefined, CredentialSource]>
  private cached?: { env: Record<string, string>; until: number }

  constructor(option: CredentialsOption | undefined) {
    if (option === undefined) this.sources = []
    else if (isSource(option)) this.sources = [[undefined, option]]
    else this.sources = Object.entries(option).map(([name, src]) => [name === 'default' ? undefined : name, src])
  }

  async env(): Promise<Record<string, string>> {
    if (this.cached && Date.now() < this.cached.until) return this.cached.env
    const env: Record<string, string> = {}
    let until = Number.POSITIVE_INFINITY
    for (const [name, source] of this.sources) {
      const value = typeof source === 'function' ? await source() : source
      const s = credentialSuffix(name)
      if ('token' in value) env[`AWS_BEARER_TOKEN_BEDROCK${s}`] = value.token
      else {
        env[`AWS_ACCESS_KEY_ID${s}`] = value.accessKeyId
        env[`AWS_SECRET_ACCESS_KEY${s}`] = value.secretAccessKey
        if (value.sessionToken) env[`AWS_SESSION_TOKEN${s}`] = value.sessionToken
        if (value.expiration) until = Math.min(until, value.expiration.getTime() - REFRESH_BEFORE_MS)
      }
      if (typeof source !== 'function') continue
      if (!('expiration' in value) || !value.expiration) until = Math.min(until, Date.now() + 5 * 60_000) // providers without expiry: re-ask every 5 min
    }
    this.cached = { env, until }
    return env
  }
}

/** The process environment when there is one (Node, Bun, Deno with --allow-env through its process shim); never a `node:` import. */
export function processEnv(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
  return proc?.env ?? {}
}
