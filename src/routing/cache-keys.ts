/**
 * The prompt-cache keys of a request, for affinity (affinity.ts). Bedrock caches a prompt up to each breakpoint —
 * a Converse `cachePoint` block (in tools, system or a message) or a Claude native `cache_control` block — in the
 * order tools, system, messages; a later request reads the longest cached prefix, found at one of its breakpoints or
 * at a block boundary shortly before one (so a conversation that moves its breakpoint to the newest message each
 * turn reads the previous turn's prefix). Hence:
 *   remember — one key per breakpoint: the prefix the serving deployment now has cached, for the breakpoint's TTL;
 *   lookup   — the breakpoints' keys and the block boundaries up to LOOKBACK_BLOCKS before each, longest first.
 * A key is a 53-bit hash of the prefix's blocks as JSON (a breakpoint marker is not part of its block's bytes).
 * An explicit session (header, requestMetadata key, OpenAI `prompt_cache_key`) replaces all that with one key.
 * Requests without breakpoints cost one shallow scan. Never throws: a body that cannot be serialised (say, nested
 * past the stack) has no keys.
 */
import { PrefixHash } from './hash'
import type { AffinityHint } from './affinity'

/** Block boundaries before a breakpoint whose prefixes are looked up (Claude checks about 20). */
export const LOOKBACK_BLOCKS = 20
/** At most this many keys looked up per request (they ride in the acquire call). */
const MAX_LOOKUPS = 32
const FIVE_MINUTES = 5 * 60_000
const ONE_HOUR = 60 * 60_000

type Shape = 'converse' | 'anthropic'

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The key of an explicit session id. */
export function sessionKey(session: string): string {
  const h = new PrefixHash()
  h.add(session)
  return `s${h.value().slice(1)}`
}

/** A breakpoint's TTL in ms, or undefined when `block` is not one. */
function breakpoint(block: unknown, shape: Shape): number | undefined {
  if (!isRecord(block)) return undefined
  const marker = shape === 'converse' ? block.cachePoint : block.cache_control
  if (!isRecord(marker)) return undefined
  return marker.ttl === '1h' ? ONE_HOUR : FIVE_MINUTES
}

/** The blocks of the prompt in cache order, with role marks between messages. */
function* blocksOf(body: Record<string, unknown>, shape: Shape): Generator<unknown> {
  const tools = shape === 'converse' ? (isRecord(body.toolConfig) ? body.toolConfig.tools : undefined) : body.tools
  if (Array.isArray(tools)) yield* tools
  const system = body.system
  if (typeof system === 'string') yield { text: system }
  else if (Array.isArray(system)) yield* system
  if (!Array.isArray(body.messages)) return
  for (const m of body.messages) {
    if (!isRecord(m)) continue
    yield { role: m.role }
    if (typeof m.content === 'string') yield { text: m.content }
    else if (Array.isArray(m.content)) yield* m.content
  }
}

function hasBreakpoint(body: Record<string, unknown>, shape: Shape): boolean {
  for (const block of blocksOf(body, shape)) if (breakpoint(block, shape) !== undefined) return true
  return false
}

/** The affinity hint of a Converse (`converse`) or Claude native (`anthropic`) body; undefined without keys. */
export function cacheAffinityHint(body: unknown, shape: Shape, session?: string, sessionTtlMs = FIVE_MINUTES): AffinityHint | undefined {
  if (session) {
    const key = sessionKey(session)
    return { lookup: [key], remember: [{ key, ttlMs: sessionTtlMs }] }
  }
  if (!isRecord(body) || !hasBreakpoint(body, shape)) return undefined
  try {
    const hash = new PrefixHash()
    const boundaries: string[] = []
    const points: Array<{ key: string; ttlMs: number; boundary: number }> = []
    for (const block of blocksOf(body, shape)) {
      const ttl = breakpoint(block, shape)
      if (shape === 'converse' && ttl !== undefined) {
        // A cachePoint block ends the prefix before it.
        points.push({ key: hash.value(), ttlMs: ttl, boundary: boundaries.length })
        continue
      }
      if (shape === 'anthropic' && isRecord(block) && block.cache_control !== undefined) {
        const { cache_control: _marker, ...bytes } = block
        hash.add(JSON.stringify(bytes))
      } else {
        hash.add(JSON.stringify(block) ?? 'null')
      }
      const key = hash.value()
      boundaries.push(key)
      // A marked Claude block ends the prefix that includes it.
      if (shape === 'anthropic' && ttl !== undefined) points.push({ key, ttlMs: ttl, boundary: boundaries.length - 1 })
    }
    const lookup: string[] = []
    const seen = new Set<string>()
    const add = (k: string) => {
      if (!seen.has(k) && lookup.length < MAX_LOOKUPS) {
        seen.add(k)
        lookup.push(k)
      }
    }
    for (let i = points.length - 1; i >= 0; i--) {
      add(points[i].key)
      const floor = Math.max(i > 0 ? points[i - 1].boundary : 0, points[i].boundary - LOOKBACK_BLOCKS)
      for (let b = points[i].boundary - 1; b >= floor; b--) add(boundaries[b])
    }
    return { lookup, remember: points.map((p) => ({ key: p.key, ttlMs: p.ttlMs })) }
  } catch {
    return undefined
  }
}
