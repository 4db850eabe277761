/**
 * Per-request events to outside systems, neither costing the request a round trip:
 * - Workers Analytics Engine (a `ROUTER_ANALYTICS` dataset binding): one data point per request, written in-process
 *   (the runtime ships it). Blobs: pool, deployment, model, client, front door, outcome, operation, tags; doubles:
 *   latency and time to first token (ms), input, output, cache-read and cache-write tokens, cost (USD), failovers;
 *   index: the pool.
 * - OpenTelemetry over OTLP/HTTP JSON (`ROUTER_OTLP_ENDPOINT`, e.g. http://collector:4318/v1/traces, with optional
 *   `ROUTER_OTLP_HEADERS` `k=v,k2=v2`): one span per request, named and attributed after the GenAI semantic
 *   conventions (gen_ai.*), batched with the accounting flush (recorder.ts) and sent with waitUntil.
 * Never a prompt or a secret: the event holds neither.
 */
import type { RequestEvent } from './rollup'

export interface AnalyticsDataset {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void
}

export function analyticsPoint(e: RequestEvent): { blobs: string[]; doubles: number[]; indexes: string[] } {
  const u = e.usage
  return {
    indexes: [e.pool.slice(0, 96)],
    blobs: [e.pool, e.deployment ?? '', e.model ?? '', e.client ?? '', e.frontDoor ?? '', e.outcome, e.operation ?? '', e.tags.join(',')].map((b) => b.slice(0, 1024)),
    doubles: [e.latencyMs, e.ttftMs ?? 0, u?.inputTokens ?? 0, u?.outputTokens ?? 0, u?.cacheReadInputTokens ?? 0, u?.cacheWriteInputTokens ?? 0, e.costUsd ?? 0, e.abandoned.length],
  }
}

type AttributeValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean }
interface Attribute {
  key: string
  value: AttributeValue
}

export interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: Attribute[]
  status: { code: number; message?: string }
}

const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')
const nanos = (ms: number) => `${Math.round(ms * 1e3)}000`

/** The GenAI operation name of a Bedrock operation. */
function operationName(op: string | undefined): string {
  return op === 'count-tokens' ? 'count_tokens' : 'chat'
}

/** One request as a span (kind CLIENT: the router's call of the model), GenAI attribute names where they exist. */
export function otlpSpan(e: RequestEvent, parent?: { traceId: string; spanId: string }): OtlpSpan {
  const attrs: Attribute[] = []
  const str = (key: string, v: string | undefined) => v !== undefined && v !== '' && attrs.push({ key, value: { stringValue: v } })
  const int = (key: string, v: number | undefined) => v !== undefined && Number.isFinite(v) && attrs.push({ key, value: { intValue: String(Math.round(v)) } })
  const dbl = (key: string, v: number | undefined) => v !== undefined && Number.isFinite(v) && attrs.push({ key, value: { doubleValue: v } })
  const op = operationName(e.operation)
  str('gen_ai.operation.name', op)
  str('gen_ai.provider.name', 'aws.bedrock')
  str('gen_ai.system', 'aws.bedrock') // the attribute's earlier name, still what many backends read
  str('gen_ai.request.model', e.requestedModel)
  str('gen_ai.response.model', e.model === '-' ? undefined : e.model)
  int('gen_ai.usage.input_tokens', e.usage?.inputTokens)
  int('gen_ai.usage.output_tokens', e.usage?.outputTokens)
  int('gen_ai.usage.cache_read.input_tokens', e.usage?.cacheReadInputTokens)
  int('gen_ai.usage.cache_creation.input_tokens', e.usage?.cacheWriteInputTokens)
  str('error.type', e.outcome === 'success' ? undefined : (e.errorType ?? e.outcome))
  int('http.response.status_code', e.status)
  str('router.pool', e.pool)
  str('router.deployment', e.deployment)
  str('router.client', e.client)
  str('router.front_door', e.frontDoor)
  str('router.outcome', e.outcome)
  int('router.failovers', e.abandoned.length)
  dbl('router.cost_usd', e.costUsd)
  dbl('router.overhead_ms', e.overheadMs)
  dbl('gen_ai.server.time_to_first_token', e.ttftMs === undefined ? undefined : e.ttftMs / 1000)
  for (const tag of e.tags) {
    const [k, ...v] = tag.split('=')
    str(`router.tag.${k}`, v.join('='))
  }
  return {
    traceId: parent?.traceId ?? hex(16),
    spanId: hex(8),
    ...(parent ? { parentSpanId: parent.spanId } : {}),
    name: `${op} ${e.requestedModel ?? e.pool}`,
    kind: 3,
    startTimeUnixNano: nanos(e.at - e.latencyMs),
    endTimeUnixNano: nanos(e.at),
    attributes: attrs,
    status: e.outcome === 'success' ? { code: 1 } : { code: 2, message: e.outcome },
  }
}

/** An OTLP/HTTP JSON export request for a batch of spans. */
export function otlpBody(spans: OtlpSpan[]): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bedrock-edge-router' } }] },
        scopeSpans: [{ scope: { name: 'bedrock-edge-router' }, spans }],
      },
    ],
  })
}

/** `k=v,k2=v2` → headers (for a collector's auth). */
export function otlpHeaders(source: unknown): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (typeof source !== 'string') return headers
  for (const part of source.split(',')) {
    const i = part.indexOf('=')
    if (i > 0) headers[part.slice(0, i).trim()] = part.slice(i + 1).trim()
  }
  return headers
}

/** W3C `traceparent` → the parent a request's span joins, when valid. */
export function parentOf(traceparent: string | undefined): { traceId: string; spanId: string } | undefined {
  const m = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}$/.exec(traceparent?.trim() ?? '')
  if (!m || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined
  return { traceId: m[1], spanId: m[2] }
}
