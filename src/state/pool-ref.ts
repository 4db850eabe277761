/**
 * How an isolate names a pool's config to the Durable Object: by fingerprint, the config itself only when the object
 * may not have it yet. A config is a few KB of structured clone on every call otherwise; with the fingerprint the
 * object keeps the configs it has seen (a few per pool: isolates of an old and a new deploy overlap for a while) and
 * asks again — `UNKNOWN_CONFIG` — only after it restarted or a new config appeared.
 */
import type { PoolConfig } from '../config/types'
import { hash53 } from '../routing/hash'

export interface PoolRef {
  name: string
  fingerprint: string
  /** Sent the first time this isolate names this config, and again when the object answered UNKNOWN_CONFIG. */
  config?: PoolConfig
}

/** What the object answers when it does not know the fingerprint: send the config. */
export const UNKNOWN_CONFIG = 'unknown-config' as const

const fingerprints = new WeakMap<PoolConfig, string>()

/** A 53-bit hash of the config's JSON, per config object (configs are loaded once per isolate and reused). */
export function fingerprintOf(pool: PoolConfig): string {
  let f = fingerprints.get(pool)
  if (f === undefined) {
    f = hash53(JSON.stringify(pool))
    fingerprints.set(pool, f)
  }
  return f
}

/** The configs an object has been sent, by pool and fingerprint; the oldest dropped past `perPool`. */
export class KnownConfigs {
  private readonly byPool = new Map<string, Map<string, PoolConfig>>()

  constructor(private readonly perPool = 4) {}

  /** The config `ref` names: the one it carries (remembered), a remembered one, or undefined (ask for it). */
  resolve(ref: PoolRef | PoolConfig): PoolConfig | undefined {
    if (!('fingerprint' in ref)) return ref // a bare config (tests, older isolates): used as is
    if (ref.config) {
      const known = this.byPool.get(ref.name) ?? new Map<string, PoolConfig>()
      known.delete(ref.fingerprint)
      known.set(ref.fingerprint, ref.config)
      while (known.size > this.perPool) known.delete(known.keys().next().value!)
      this.byPool.set(ref.name, known)
      return ref.config
    }
    return this.byPool.get(ref.name)?.get(ref.fingerprint)
  }

  /**
   * `pool` with the deployments of every config of it still remembered: what pruning may keep. While an old and a
   * new deploy overlap, pruning by either one alone would drop the other's deployments on every switch.
   */
  union(pool: PoolConfig): PoolConfig {
    const known = this.byPool.get(pool.name)
    if (!known || known.size < 2) return pool
    const ids = new Set(pool.deployments.map((d) => d.id))
    const deployments = [...pool.deployments]
    for (const config of known.values()) for (const d of config.deployments) if (!ids.has(d.id)) (ids.add(d.id), deployments.push(d))
    return deployments.length === pool.deployments.length ? pool : { ...pool, deployments }
  }
}
