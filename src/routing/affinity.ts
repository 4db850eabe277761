/**
 * Prompt-cache affinity, in the pure core. Bedrock keeps prompt caches per model, region and account, so a request
 * whose prompt starts with a prefix another request cached is cheaper (cache reads cost a tenth of input) only on a
 * deployment that served that prefix. The pool state keeps a small map from prefix keys (cache-keys.ts) or session
 * keys to the deployments that took them, each until its TTL. `decide` sends a request to a holder of its longest
 * held prefix while one may take it as well as any other deployment (healthy, a send token, not tried, allowed, in
 * the best ready tier, headroom left) — the strategy choosing among several holders, so a prefix every deployment
 * has (a shared system prompt) constrains nothing — then a holder of a shorter prefix, and otherwise spills over,
 * saying why. The map lives in the same state as the windows, so the lookup rides on the one acquire call a request
 * makes anyway (no extra round trip) and holds across isolates.
 */
import type { PoolConfig } from '../config/types'
import type { PoolState } from './types'

/** What a request offers to match: keys to look up and keys the deployment that takes it will hold. */
export interface AffinityHint {
  /** Looked up most specific first: the session key, else prompt prefixes longest first. */
  lookup: readonly string[]
  /** Held by the deployment that takes the request, each for its TTL (a cache point's 5 min or 1 h; a session's). */
  remember: ReadonlyArray<{ key: string; ttlMs: number }>
}

/** deployment id → epoch ms until which it holds the key. */
export type AffinityEntry = Record<string, number>

export interface AffinitySettings {
  enabled: boolean
  /** Spill over when the affine deployment would have less than this share of its rpm/tpm window left. */
  minHeadroom: number
  /**
   * Spill over when the affine deployment has had more than this many times its weighted share of the ready tier's
   * requests in the last minute (plus IMBALANCE_SLACK): affinity must not pile a busy pool onto one deployment.
   */
  maxImbalance: number
  /** Keys kept per pool (the oldest-expiring go first). */
  maxEntries: number
  /** How long a session key (header, requestMetadata, prompt_cache_key) is held after its last request. */
  sessionTtlMs: number
  /** The requestMetadata key whose value names a session. */
  sessionMetadataKey: string
}

export const DEFAULT_AFFINITY: AffinitySettings = {
  enabled: true,
  minHeadroom: 0.1,
  maxImbalance: 2,
  maxEntries: 1000,
  sessionTtlMs: 5 * 60_000,
  sessionMetadataKey: 'session_id',
}

/**
 * The request's affinity hint where routing uses it: affinity on, and no custom strategy's ranking (the user's own
 * word on where to go, which affinity does not override).
 */
export function affinityHintOf(pool: PoolConfig, req: { affinity?: AffinityHint; ranking?: readonly string[] }): AffinityHint | undefined {
  return affinityOf(pool).enabled && !req.ranking ? req.affinity : undefined
}

/**
 * A request was dispatched to `deploymentId`: it holds the hint's keys now, and the deployments the request tried
 * before (they failed it) never cached its prefixes. `log` as for rememberAffinity.
 */
export function holdAffinity(state: PoolState, hint: AffinityHint, tried: readonly string[], deploymentId: string, now: number, maxEntries: number, log = false): void {
  if (tried.length) forgetAffinity(state, hint, tried, now, log)
  rememberAffinity(state, hint, deploymentId, now, maxEntries, log)
}

/** The pool's affinity settings (config load fills them; hand-built test pools get the defaults). */
export function affinityOf(pool: PoolConfig): AffinitySettings {
  return pool.affinity ?? DEFAULT_AFFINITY
}

/** Requests a minute a holder may take beyond its share before imbalance counts (light traffic never spills). */
export const IMBALANCE_SLACK = 10

/** At most this many held prefixes are considered per request, longest first. */
const MAX_LEVELS = 4

/** The keys of `hint` that some deployment holds now, most specific first, with their holders. */
export function heldPrefixes(state: PoolState, hint: AffinityHint, now: number): Array<{ key: string; holders: string[] }> {
  const map = state.affinity
  const levels: Array<{ key: string; holders: string[] }> = []
  if (!map) return levels
  for (const key of hint.lookup) {
    const entry = Object.hasOwn(map, key) ? map[key] : undefined
    if (!entry) continue
    const holders = Object.keys(entry).filter((id) => entry[id] > now)
    if (holders.length) levels.push({ key, holders })
    if (levels.length === MAX_LEVELS) break
  }
  return levels
}

/**
 * `deploymentId` now holds every key `hint` remembers (a hit refreshes the TTL, as Bedrock's cache does). `log`: the
 * object's state of a pool with leases, whose isolates learn its changes at their renewals (affinityChangesSince).
 */
export function rememberAffinity(state: PoolState, hint: AffinityHint, deploymentId: string, now: number, maxEntries: number, log = false): void {
  if (hint.remember.length === 0) return
  const map = (state.affinity ??= {})
  for (const { key, ttlMs } of hint.remember) {
    const entry = holdersOf(map, key, now)
    if (log) logIfNews(state, { key, id: deploymentId, until: now + ttlMs })
    entry[deploymentId] = now + ttlMs
  }
  pruneAffinity(state, now, maxEntries)
}

/**
 * A change to the map as leases share it (routing/lease.ts): `id` holds `key` until `until` (the object's time).
 * Under leases an isolate decides on its own copy of the map, so what one isolate's requests cached reaches the
 * others through the object: sent at its renewal, handed to each other isolate at theirs. `seq`: its place in the
 * object's log; `by`: the isolate that sent it (not handed back to it).
 */
export interface AffinityChange {
  seq: number
  key: string
  id: string
  until: number
  by?: string
  /**
   * `id` no longer holds `key`: a request it held failed there and went elsewhere. `until`: how long the forget is
   * news (FORGET_KEEP_MS after it, the longest hold it can cancel).
   */
  forget?: true
  /**
   * When the hold was taken or the failure happened (the object's time): a hold taken before a forget the log has
   * is stale. Holds compare by this, not by `until` — a key's holds need not share one TTL.
   */
  at?: number
}

/** How long a forget stays news: Bedrock's longest prompt-cache TTL (1 h), the longest hold it can cancel. */
export const FORGET_KEEP_MS = 3_600_000

/** A holder as an isolate sends it: the change without its place in the log. */
export type AffinityHeld = Omit<AffinityChange, 'seq' | 'by'>

/**
 * The object's recent changes kept for isolates to pick up (a bounded log in the pool's state). An isolate that
 * renews after more changes than this came would miss the older ones: it is sent the whole map instead (the log's
 * `lost` says how far it was cut), at most `maxEntries` keys, once.
 */
export const MAX_AFFINITY_LOG = 256

/**
 * A hold extended by less than this past what the log last said of it is not news: a hot prefix refreshed by every
 * request would otherwise fill the log with refreshes and push real changes out. Other isolates may see a hold end
 * up to this much early.
 */
export const AFFINITY_REFRESH_SLACK_MS = 30_000

/** The log, if it has the shape this version writes (anything else is dropped and begun again). */
function logOf(state: PoolState): NonNullable<PoolState['affinityLog']> | undefined {
  const log = state.affinityLog
  if (log && typeof log.seq === 'number' && Array.isArray(log.changes)) {
    if (log.lost !== undefined && !(Number.isFinite(log.lost) && log.lost <= log.seq)) log.lost = log.seq // unknown: as if all was cut
    return log
  }
  if (log) delete state.affinityLog
  return undefined
}

/**
 * Logs the change, in place of the log's earlier word on the same holder, unless the log already says as much: its
 * latest hold of the key by the deployment ends within the slack of this one. Compared with the log, not the map —
 * each refresh moves the map's hold, so a hold refreshed more often than the slack would otherwise be shared once and
 * seen to end a TTL later by every other isolate.
 */
function logIfNews(state: PoolState, change: Omit<AffinityChange, 'seq'>) {
  const log = logOf(state) ?? (state.affinityLog = { seq: 0, changes: [] })
  for (let i = log.changes.length - 1; i >= 0; i--) {
    const c = log.changes[i]
    if (c.key !== change.key || c.id !== change.id) continue
    // A hold after a forget, or a forget after a hold, is always news.
    if (!c.forget && !change.forget && c.until >= change.until - AFFINITY_REFRESH_SLACK_MS) return
    // Superseded: an isolate that has not seen it gets the newer one (a later position), so the log keeps one per holder.
    log.changes.splice(i, 1)
    break
  }
  log.changes.push({ ...change, seq: ++log.seq })
  if (log.changes.length > MAX_AFFINITY_LOG) log.lost = log.changes.splice(0, log.changes.length - MAX_AFFINITY_LOG).at(-1)!.seq
}

/** The log's latest word on `id` holding `key`, if it has one. */
function lastWord(state: PoolState, key: string, id: string): AffinityChange | undefined {
  const changes = logOf(state)?.changes ?? []
  for (let i = changes.length - 1; i >= 0; i--) if (changes[i].key === key && changes[i].id === id) return changes[i]
  return undefined
}

/** The key's holders, those whose hold has ended dropped (so an entry holds at most the deployments holding it now). */
function holdersOf(map: Record<string, AffinityEntry>, key: string, now: number): AffinityEntry {
  const entry = Object.hasOwn(map, key) ? map[key] : undefined
  if (!entry) return (map[key] = {})
  for (const id in entry) if (!(entry[id] > now)) delete entry[id]
  return entry
}

/**
 * Holders learned elsewhere (an isolate's renewal, the object's answer): each kept until the later of what the map
 * says and what the change says; expired ones ignored. `log`: the object, which passes on what is news (`by`: from
 * which isolate).
 */
export function mergeAffinity(state: PoolState, changes: readonly AffinityHeld[], now: number, maxEntries: number, log?: { by?: string }): void {
  if (changes.length === 0) return
  const map = (state.affinity ??= {})
  const by = log?.by ? { by: log.by } : {}
  for (const { key, id, until, forget, at } of changes) {
    if (forget === true) {
      // The object: when it happened (never later than now), news for FORGET_KEEP_MS; a success the log has since wins.
      const when = log ? (Number.isFinite(at) ? Math.min(at!, now) : now) : at
      const last = log && lastWord(state, key, id)
      if (last && last.forget !== true && (last.at ?? -Infinity) > when!) continue
      const keep = log ? when! + FORGET_KEEP_MS : until
      if (!(keep > now)) continue
      dropHolders(map, key, [id])
      // Logged even when this map had no such holder (pruned, or begun again): other copies may hold it.
      if (log) logIfNews(state, { key, id, until: keep, forget: true, at: when!, ...by })
      continue
    }
    if (!(until > now)) continue
    // A hold taken before a failure the log has since recorded (sent late by an isolate that had not heard): stale.
    if (log) {
      const last = lastWord(state, key, id)
      if (last?.forget === true && Number.isFinite(at) && at! <= last.at!) continue
    }
    const entry = holdersOf(map, key, now)
    if (log) logIfNews(state, { key, id, until, ...(Number.isFinite(at) ? { at: Math.min(at!, now) } : {}), ...by })
    if (!(entry[id] >= until)) entry[id] = until
  }
  pruneAffinity(state, now, maxEntries)
}

/**
 * What an isolate has not seen of the log: the changes after `since` (the log's `seq` in its last answer; undefined:
 * all), still held at `now`, not sent by `by` itself; and the log's `seq` now, its next `since`.
 */
export function affinityChangesSince(state: PoolState, since: number | undefined, now: number, by?: string): { seq: number; changes: AffinityChange[]; full?: true } | undefined {
  const log = logOf(state)
  if (!log) return undefined
  // A position past the log's (the object's state was lost and begun again): everything it has.
  const from = since !== undefined && since <= log.seq ? since : -1
  // Changes it has not seen were cut from the log: every holder the map has now, in their place (the map holds what
  // the log said and more; without its senders, so the isolate's own holds come back too, which merging ignores).
  // The log's forgets still count come after (a hold the map took since ends later than its forget, so it stays).
  // `full`: the copy is replaced by it, so a forget the bound cut does not leave its holder in the copy.
  if (log.lost !== undefined && from < log.lost) return { seq: log.seq, full: true, changes: [...holdersNow(state, now, log.seq), ...log.changes.filter((c) => c.forget === true && c.until > now)] }
  return { seq: log.seq, changes: log.changes.filter((c) => c.seq > from && c.until > now && (by === undefined || c.by !== by)) }
}

/** Every holder of every key in the map whose hold lasts past `now`, as changes at position `seq`. */
function holdersNow(state: PoolState, now: number, seq: number): AffinityChange[] {
  const changes: AffinityChange[] = []
  const map = state.affinity ?? {}
  for (const key in map) for (const id in map[key]) if (map[key][id] > now) changes.push({ seq, key, id, until: map[key][id] })
  return changes
}

/**
 * `deployments` do not hold the keys `hint` remembers (they were held for attempts that failed). `log`: the object's
 * state of a pool with leases — the isolates learn the forget at their renewals, as they learn holds.
 */
export function forgetAffinity(state: PoolState, hint: AffinityHint, deployments: readonly string[], now = 0, log = false): void {
  const map = state.affinity
  if (!map) return
  for (const { key } of hint.remember) {
    const entry = Object.hasOwn(map, key) ? map[key] : undefined
    if (!entry) continue
    if (log) for (const id of deployments) if (id in entry) logIfNews(state, { key, id, until: now + FORGET_KEEP_MS, forget: true, at: now })
    dropHolders(map, key, deployments)
  }
}

/** `ids` no longer hold `key` in `map` (a key nobody holds goes). */
function dropHolders(map: Record<string, AffinityEntry>, key: string, ids: readonly string[]): void {
  const entry = Object.hasOwn(map, key) ? map[key] : undefined
  if (!entry) return
  for (const id of ids) delete entry[id]
  if (Object.keys(entry).length === 0) delete map[key]
}

const lastUntil = (entry: AffinityEntry) => {
  let until = 0
  for (const id in entry) until = Math.max(until, entry[id])
  return until
}

/** Over `maxEntries` keys: drops expired holders and keys, then the keys that expire soonest. Only when over. */
export function pruneAffinity(state: PoolState, now: number, maxEntries: number): void {
  const map = state.affinity
  if (!map) return
  let keys = Object.keys(map)
  if (keys.length <= maxEntries) return
  for (const k of keys) {
    const entry = map[k]
    for (const id in entry) if (entry[id] <= now) delete entry[id]
    if (Object.keys(entry).length === 0) delete map[k]
  }
  keys = Object.keys(map)
  const log = logOf(state)
  if (log) log.changes = log.changes.filter((c) => c.until > now)
  if (keys.length <= maxEntries) return
  const until = new Map(keys.map((k) => [k, lastUntil(map[k])]))
  keys.sort((a, b) => until.get(a)! - until.get(b)!)
  // Down to 90 % of the cap, so a full map is not sorted again on every request.
  for (const k of keys.slice(0, keys.length - Math.max(1, Math.floor(maxEntries * 0.9)))) delete map[k]
}
