/**
 * Reads ROUTER_CONFIG from the environment (a JSON string, or an object when set as a structured Worker var),
 * validates it once per isolate, and resolves the `{modelId}` of a request to a pool.
 */
import { ConfigError, parseRouterConfig } from './schema'
import type { PoolConfig, RouterConfig } from './types'

export interface LoadedConfig {
  config: RouterConfig
  /** Pool name, and every model ID that belongs to a pool → that pool (first pool in config order wins). */
  poolByModel: Map<string, PoolConfig>
}

/** Parsed configs by source: one per isolate in a Worker, one per router in a process using the library (bounded). */
const cache = new Map<unknown, LoadedConfig>()

export function loadConfig(source: unknown): LoadedConfig {
  const cached = cache.get(source)
  if (cached) return cached
  if (source === undefined || source === null || source === '') {
    throw new ConfigError(['ROUTER_CONFIG is not set'])
  }
  let document: unknown = source
  if (typeof source === 'string') {
    try {
      document = JSON.parse(source)
    } catch (e) {
      throw new ConfigError([`ROUTER_CONFIG is not valid JSON: ${(e as Error).message}`])
    }
  }
  const config = parseRouterConfig(document)
  const poolByModel = new Map<string, PoolConfig>()
  for (const pool of Object.values(config.pools)) poolByModel.set(pool.name, pool)
  for (const pool of Object.values(config.pools)) {
    for (const d of pool.deployments) if (!poolByModel.has(d.modelId)) poolByModel.set(d.modelId, pool)
  }
  const loaded = { config, poolByModel }
  if (cache.size >= 16) cache.delete(cache.keys().next().value)
  cache.set(source, loaded)
  return loaded
}

/** The config when it is valid, else undefined (for middleware that must not fail a request the routes will refuse with the reason). */
export function validConfig(source: unknown): LoadedConfig | undefined {
  try {
    return loadConfig(source)
  } catch (e) {
    if (e instanceof ConfigError) return undefined
    throw e
  }
}

/** `{modelId}` as the client sent it (already percent-decoded): a pool name or a model ID of some pool. */
export function resolvePool(loaded: LoadedConfig, modelId: string): PoolConfig | undefined {
  return loaded.poolByModel.get(modelId)
}
