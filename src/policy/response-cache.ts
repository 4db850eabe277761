/**
 * The response cache layer (opt-in per pool: `cache: { ttlSeconds, shared? }`), after the rules, the pool and its
 * experiment have decided where a request goes, before any routing: an identical Converse or ConverseStream request
 * (same pool, canonical body and — unless `shared` — the same client) within the TTL is answered from the cache.
 * A hit reserves nothing in any window and costs nothing in the accounting (it is counted as a cache hit). Only clean
 * answers are kept — never an error, never a stream that did not end cleanly — and streams are replayed frame by frame
 * through the front door's own renderer. The client's `Cache-Control: no-cache` skips the lookup (the answer is still
 * kept); `no-store` bypasses the cache both ways. `x-router-cache: hit | miss | bypass`.
 */
import { cacheKey } from '../cache/key'
import type { CachedAnswer } from '../cache/types'
import { replayedEvents, type ConverseEventStream, type StreamRenderer } from '../engine/converse-stream'
import type { EngineRequest, Outcome, PolicyTrace } from '../engine/outcome'
import { traceFor } from '../engine/trace'
import { usageOf } from '../engine/attempt'
import { base64ToBytes, bytesToBase64, jsonObject } from '../wire/base64'
import { EventStreamFramer } from '../wire/eventstream'
import type { PolicyContext } from './route'

export async function withResponseCache(request: EngineRequest, ctx: PolicyContext, run: (request: EngineRequest) => Promise<Outcome>): Promise<Outcome> {
  const { pool, operation } = request
  const cache = ctx.responseCache
  if (!pool.cache || !cache || (operation !== 'converse' && operation !== 'converse-stream')) return run(request)
  const policy: PolicyTrace = { ...request.policy }
  const control = (ctx.header('cache-control') ?? '').toLowerCase()
  if (control.includes('no-store')) return run({ ...request, policy: { ...policy, cache: 'bypass' } })
  const scope = pool.cache.shared ? undefined : `${request.identity?.kind ?? ''}:${request.identity?.name ?? request.client ?? ''}`
  const key = await cacheKey({ pool: pool.name, operation, body: request.body, scope })
  if (!control.includes('no-cache')) {
    const hit = await cache.get(key).catch(() => undefined)
    if (hit) return replay(hit, request, { ...policy, cache: 'hit' }, ctx)
  }
  const outcome = await run({ ...request, policy: { ...policy, cache: 'miss' } })
  const ttl = pool.cache.ttlSeconds
  const keep = (answer: CachedAnswer) => ctx.waitUntil(cache.put(key, answer, ttl).catch((e) => console.error(JSON.stringify({ msg: 'response cache write failed', error: String(e) }))))
  if (outcome.kind === 'served') {
    const deployment = outcome.trace.servedDeployment ?? ''
    if (outcome.body.length <= cache.maxEntryBytes) keep({ kind: 'converse', body: outcome.body, contentType: outcome.contentType, deployment, storedAt: Date.now() })
    return outcome
  }
  if (outcome.kind === 'streaming') return { ...outcome, events: recording(outcome.events, cache.maxEntryBytes, (frames) => keep({ kind: 'stream', frames, deployment: outcome.trace.servedDeployment ?? '', storedAt: Date.now() })) }
  return outcome
}

/** The engine's stream, its frames kept as they pass; handed to `done` only after a clean end. */
function recording(events: ConverseEventStream, maxBytes: number, done: (frames: string) => void): ConverseEventStream {
  return {
    render(renderer: StreamRenderer) {
      const chunks: Uint8Array[] = []
      let size = 0
      let clean = true
      return events.render({
        event(frame) {
          size += frame.bytes.length
          if (size <= maxBytes) chunks.push(frame.bytes)
          return renderer.event(frame)
        },
        error(failure) {
          clean = false
          return renderer.error(failure)
        },
        trailer: renderer.trailer && ((accounting) => renderer.trailer!(accounting)),
        end() {
          if (clean && size <= maxBytes * 0.75) {
            const all = new Uint8Array(size)
            let at = 0
            for (const c of chunks) {
              all.set(c, at)
              at += c.length
            }
            done(bytesToBase64(all))
          }
          return renderer.end?.()
        },
      })
    },
  }
}

/** A cached answer as the engine's outcome: served, or a stream replayed through the front door's renderer. */
function replay(hit: CachedAnswer, request: EngineRequest, policy: PolicyTrace, ctx: PolicyContext): Outcome {
  const { pool } = request
  const trace = traceFor(request, request.operation, ctx, policy)
  const deployment = pool.deployments.find((d) => d.id === hit.deployment) ?? pool.deployments[0]
  trace.served(deployment, `response cache hit (kept ${Math.round((Date.now() - hit.storedAt) / 1000)} s ago)`, 0)
  trace.completed({ class: 'success', status: 200 }, undefined, 0)
  // The answer's own usage is what the front doors render (it is in the body); the accounting counts none of it.
  if (hit.kind === 'converse') return { kind: 'served', body: hit.body, contentType: hit.contentType, usage: usageOf(jsonObject(hit.body)?.usage), costUsd: 0, trace }
  const framer = new EventStreamFramer()
  const frames = framer.push(base64ToBytes(hit.frames))
  framer.end()
  return { kind: 'streaming', trace, events: replayedEvents(frames, { costUsd: 0 }, () => trace.log()) }
}
