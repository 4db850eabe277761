/**
 * A request's features for rules and custom strategies, read once from the engine request (Converse shape, or a
 * native InvokeModel body) — what it asks for, not who may see it: never a credential.
 */
import type { EngineRequest } from '../engine/outcome'
import { estimateNativeRequest, estimateRequest } from '../routing/estimate'
import { isInvoke, isStreaming } from '../upstream/bedrock'
import type { RequestFeatures } from './types'

type Block = Record<string, unknown>

export function featuresOf(request: EngineRequest, header: (name: string) => string | undefined): RequestFeatures {
  const body = request.body
  const invoke = isInvoke(request.operation)
  const estimate = invoke ? estimateNativeRequest(body, isStreaming(request.operation), request.nativeFamily ?? '') : estimateRequest(body, isStreaming(request.operation))
  const messages = (Array.isArray(body.messages) ? body.messages : []) as Array<{ role?: string; content?: unknown }>
  const blocks = messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as Block[]) : []))
  const has = (kinds: string[]) => blocks.some((b) => b && typeof b === 'object' && (kinds.some((k) => k in b) || kinds.includes(String(b.type))))
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  return {
    pool: request.pool.name,
    model: request.requestedModel,
    frontDoor: request.frontDoor as RequestFeatures['frontDoor'],
    hasTools: Boolean((body.toolConfig as Block | undefined)?.tools) || Array.isArray(body.tools),
    hasImages: has(['image']),
    hasDocuments: has(['document']),
    inputTokens: estimate.inputTokens,
    maxTokens: estimate.maxTokens,
    tags: request.tags ?? {},
    client: request.identity?.name ?? request.client,
    team: request.identity?.team,
    credential: request.identity?.kind,
    systemPrompt: textOf(body.system),
    lastUserMessage: textOf(lastUser?.content),
    header,
  }
}

/** The text of a Converse `system` list, a content list, or a plain string (native bodies). */
function textOf(value: unknown): string {
  if (typeof value === 'string') return value
  if (!Array.isArray(value)) return ''
  return value
    .map((b) => (typeof b === 'string' ? b : b && typeof b === 'object' && typeof (b as Block).text === 'string' ? ((b as Block).text as string) : ''))
    .filter(Boolean)
    .join('\n')
}
