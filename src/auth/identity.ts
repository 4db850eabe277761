/**
 * Who is calling and what they may do. Every authenticated request carries one identity: a scoped key from the
 * config, a token (JWT), a shared key from ROUTER_API_KEYS (no scope), or demo mode. Scopes only narrow: an unset
 * field allows everything, and a minted token's scope is the intersection of what was asked and what its key holds.
 */
import type { ClientScope, FrontDoor, TeamLimits } from '../config/types'

export interface ClientIdentity {
  /** Key name, token subject, `api-key` (a shared key) or `demo`: for logs, stats and limits; never a secret. */
  name: string
  kind: 'key' | 'token' | 'shared-key' | 'demo'
  team?: string
  /** The limits the team shares (config `clients.teams`), held besides the identity's own. */
  teamLimits?: TeamLimits
  scope: ClientScope
  /** A key that may mint tokens. */
  mint?: boolean
  /** A key that may read the admin endpoints. */
  admin?: boolean
  /** Tokens: expiry, epoch seconds. */
  expiresAt?: number
}

export function allowsPool(identity: ClientIdentity | undefined, pool: string): boolean {
  const pools = identity?.scope.pools
  return !pools || pools.includes(pool)
}

export function allowsFrontDoor(identity: ClientIdentity | undefined, door: FrontDoor): boolean {
  const doors = identity?.scope.frontDoors
  return !doors || doors.includes(door)
}

const NUMERIC = ['rpm', 'tpm', 'budgetUsdPerDay', 'budgetUsdPerMonth'] as const
const FRONT_DOORS: readonly FrontDoor[] = ['bedrock', 'openai', 'anthropic']

/** The scope fields a token's `router` claim or a mint request may carry. */
export const SCOPE_FIELDS: readonly string[] = ['pools', 'frontDoors', ...NUMERIC]

/**
 * A scope given as JSON (a token's `router` claim, a mint request), checked field by field; `where` prefixes the
 * field in the message (`The token's router.`). Fields other than the scope's are left to the caller.
 */
export function parseScope(fields: Record<string, unknown>, where = ''): { ok: true; scope: ClientScope } | { ok: false; message: string } {
  const scope: ClientScope = {}
  const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')
  if (fields.pools !== undefined) {
    if (!strings(fields.pools)) return { ok: false, message: `${where}pools must be a list of pool names.` }
    scope.pools = fields.pools
  }
  if (fields.frontDoors !== undefined) {
    if (!strings(fields.frontDoors) || !fields.frontDoors.every((d) => FRONT_DOORS.includes(d as FrontDoor))) {
      return { ok: false, message: `${where}frontDoors may list ${FRONT_DOORS.join(', ')}.` }
    }
    scope.frontDoors = fields.frontDoors as FrontDoor[]
  }
  for (const key of NUMERIC) {
    const v = fields[key]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return { ok: false, message: `${where}${key} must be a number ≥ 0.` }
    scope[key] = v
  }
  return { ok: true, scope }
}

/**
 * The scope a minted token gets: what was asked, within what the granter holds. Lists intersect (an unset list
 * is everything), numbers take the smaller. `empty` names a list the intersection left empty although something
 * was asked (the caller refuses such a request rather than mint a token that can do nothing).
 */
export function narrowScope(granter: ClientScope, asked: ClientScope): { scope: ClientScope; empty?: 'pools' | 'frontDoors' } {
  const scope: ClientScope = {}
  for (const list of ['pools', 'frontDoors'] as const) {
    const held = granter[list] as string[] | undefined
    const want = asked[list] as string[] | undefined
    const result = want && held ? want.filter((x) => held.includes(x)) : (want ?? held)
    if (result) {
      if (result.length === 0) return { scope, empty: list }
      ;(scope as Record<string, unknown>)[list] = [...new Set(result)]
    }
  }
  for (const key of NUMERIC) {
    const values = [granter[key], asked[key]].filter((v): v is number => typeof v === 'number')
    if (values.length) scope[key] = Math.min(...values)
  }
  return { scope }
}

/** A description of a scope for error messages: what is allowed. */
export function describeScope(scope: ClientScope): string {
  const parts: string[] = []
  if (scope.pools) parts.push(`pools ${scope.pools.join(', ') || '(none)'}`)
  if (scope.frontDoors) parts.push(`front doors ${scope.frontDoors.join(', ')}`)
  return parts.join('; ') || 'everything'
}
