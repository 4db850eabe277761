/**
 * Everything in the environment that would make the router refuse traffic: no client authentication, an invalid
 * ROUTER_CONFIG, a deployment without upstream credentials. One list, read by `npm start` before it starts and by
 * GET /health while it runs.
 */
import type { RouterEnv } from '../env'
import { credentialHint, resolveCredentials } from '../upstream/credentials'
import { loadConfig, type LoadedConfig } from './load'
import { ConfigError } from './schema'

export interface EnvironmentCheck {
  problems: string[]
  /** The config, when it is valid. */
  loaded?: LoadedConfig
}

const NO_AUTH = 'ROUTER_API_KEYS is not set: client authentication is required (comma-separated keys, or clients.keys / tokens in ROUTER_CONFIG).'

export function checkEnvironment(env: RouterEnv): EnvironmentCheck {
  const problems: string[] = []
  const sharedKeys = String(env.ROUTER_API_KEYS ?? '').split(',').some((k) => k.trim())
  let loaded: LoadedConfig | undefined
  try {
    loaded = loadConfig(env.ROUTER_CONFIG)
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    if (!env.ROUTER_DEMO && !sharedKeys) problems.push(NO_AUTH)
    problems.push(...e.problems)
    return { problems }
  }
  const { keys, tokens } = loaded.config.clients
  const tokensAccepted = Boolean(env.ROUTER_JWT_SECRET || tokens.jwksUrl || tokens.keys?.length)
  if (!env.ROUTER_DEMO && !sharedKeys && keys.length === 0 && !tokensAccepted) problems.push(NO_AUTH)
  if (tokens.algorithms.includes('HS256') && keys.some((k) => k.mint) && !env.ROUTER_JWT_SECRET) {
    problems.push('clients.keys: a key may mint tokens, but ROUTER_JWT_SECRET (the HS256 secret minted tokens are signed with) is not set')
  }
  for (const pool of Object.values(loaded.config.pools)) {
    for (const d of pool.deployments) {
      if (!resolveCredentials(env, d.credentials)) problems.push(`deployment ${d.id}: no upstream credentials; set ${credentialHint(d.credentials)}`)
    }
  }
  for (const [id, g] of Object.entries(loaded.config.guardrails)) {
    if (!resolveCredentials(env, g.credentials)) problems.push(`guardrail ${id}: no upstream credentials; set ${credentialHint(g.credentials)}`)
  }
  return { problems, loaded }
}
