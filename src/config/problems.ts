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

export function checkEnvironment(env: RouterEnv): EnvironmentCheck {
  const problems: string[] = []
  if (!env.ROUTER_DEMO && !String(env.ROUTER_API_KEYS ?? '').split(',').some((k) => k.trim())) {
    problems.push('ROUTER_API_KEYS is not set: client authentication is required (comma-separated keys).')
  }
  let loaded: LoadedConfig | undefined
  try {
    loaded = loadConfig(env.ROUTER_CONFIG)
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    problems.push(...e.problems)
    return { problems }
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
