/**
 * InvokeModel / InvokeModelWithResponseStream bodies: picks the native format from the model ID (./model-family)
 * and parses it into what the answer planner needs. Anthropic and Amazon Nova bodies are modelled; other vendors'
 * native bodies get a 400 that says so (use Converse for them). An ARN that does not name its model is read as an
 * Anthropic body when it has `anthropic_version`, else as a Nova body.
 */
import { parseAnthropicBody } from './anthropic-request'
import type { ConverseBody } from './converse-request'
import { awsError, type AwsError } from './errors'
import { modelFamily } from './model-family'
import { parseNovaBody } from './nova-request'
import type { CachePoint } from './prompt-cache'

export type NativeFormat = 'anthropic' | 'nova'

export interface InvokeRequest {
  format: NativeFormat
  /** The conversation as a Converse body (planning, token counting). */
  converse: ConverseBody
  /** The output cap the request sets (quota reservation), if any. */
  maxTokens?: number
  stopSequences?: string[]
  thinking: boolean
  cachePoints: CachePoint[]
}

export type ParsedInvoke = { ok: true; request: InvokeRequest } | { ok: false; error: AwsError }

function looksAnthropic(text: string): boolean {
  try {
    const json = JSON.parse(text)
    return typeof json === 'object' && json !== null && 'anthropic_version' in json
  } catch {
    return true // let the Anthropic parser word the malformed-JSON error
  }
}

export function invokeFormat(modelId: string, text: string): NativeFormat | undefined {
  const family = modelFamily(modelId)
  if (family === 'opaque') return looksAnthropic(text) ? 'anthropic' : 'nova'
  return family === 'other' ? undefined : family
}

export function parseInvokeBody(modelId: string, text: string): ParsedInvoke {
  const format = invokeFormat(modelId, text)
  if (format === undefined) {
    return {
      ok: false,
      error: awsError(
        400,
        'ValidationException',
        `The Bedrock simulator models InvokeModel bodies for Anthropic Claude and Amazon Nova models only, not for ${modelId}; use Converse for this model.`,
      ),
    }
  }
  if (format === 'anthropic') {
    const parsed = parseAnthropicBody(text)
    if (!parsed.ok) return parsed
    const { converse, maxTokens, stopSequences, thinking, cachePoints } = parsed.request
    return { ok: true, request: { format, converse, maxTokens, stopSequences, thinking, cachePoints } }
  }
  const parsed = parseNovaBody(text)
  if (!parsed.ok) return parsed
  const config = parsed.body.inferenceConfig as { maxTokens?: number; stopSequences?: unknown } | undefined
  const stops = Array.isArray(config?.stopSequences) ? config.stopSequences.filter((s): s is string => typeof s === 'string') : undefined
  return { ok: true, request: { format, converse: parsed.body, maxTokens: config?.maxTokens, stopSequences: stops, thinking: false, cachePoints: [] } }
}
