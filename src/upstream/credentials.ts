/**
 * Upstream credential sets. The default set comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN or AWS_BEARER_TOKEN_BEDROCK; a deployment with `"credentials": "prod"` uses the same
 * names suffixed `_PROD`. SigV4 keys win over a bearer key when a set has both.
 */
import type { RouterEnv } from '../env'

export type Credentials =
  | { kind: 'sigv4'; accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | { kind: 'bearer'; token: string }

function read(env: RouterEnv, name: string): string | undefined {
  const value = env[name]
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined
}

/** Env-var suffix for a named credential set (`prod` → `_PROD`); the default set has none. */
export function credentialSuffix(name: string | undefined): string {
  return name ? `_${name.toUpperCase()}` : ''
}

export function resolveCredentials(env: RouterEnv, name: string | undefined): Credentials | undefined {
  const s = credentialSuffix(name)
  const accessKeyId = read(env, `AWS_ACCESS_KEY_ID${s}`)
  const secretAccessKey = read(env, `AWS_SECRET_ACCESS_KEY${s}`)
  if (accessKeyId && secretAccessKey) {
    return { kind: 'sigv4', accessKeyId, secretAccessKey, sessionToken: read(env, `AWS_SESSION_TOKEN${s}`) }
  }
  const token = read(env, `AWS_BEARER_TOKEN_BEDROCK${s}`)
  return token ? { kind: 'bearer', token } : undefined
}

/** What to set for a credential set, for error messages (names only, never values). */
export function credentialHint(name: string | undefined): string {
  const s = credentialSuffix(name)
  return `AWS_ACCESS_KEY_ID${s} + AWS_SECRET_ACCESS_KEY${s} (optionally AWS_SESSION_TOKEN${s}), or AWS_BEARER_TOKEN_BEDROCK${s}`
}
