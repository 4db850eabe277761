/**
 * CountTokens: `{"input": {"converse": {messages, system?, toolConfig?}}}` or
 * `{"input": {"invokeModel": {"body": "<base64 of a native body>"}}}` → the input tokens the model would report
 * for that request: Converse's `usage.inputTokens`, or for an Anthropic body `input_tokens +
 * cache_creation_input_tokens + cache_read_input_tokens` (counting does not depend on what is cached). Only
 * Anthropic models count tokens, as on Bedrock; other model families get 400 "doesn't support counting tokens".
 */
import { base64ToText } from './base64'
import { countInputTokens, validateConverseBody } from './converse-request'
import { awsError, type AwsError } from './errors'
import { parseInvokeBody } from './invoke-request'
import { modelFamily } from './model-family'

export type CountResult = { ok: true; inputTokens: number } | { ok: false; error: AwsError }

const invalid = (message: string): CountResult => ({ ok: false, error: awsError(400, 'ValidationException', message) })
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function countTokens(modelId: string, text: string): CountResult {
  const family = modelFamily(modelId)
  if (family === 'nova' || family === 'other') return invalid("The provided model doesn't support counting tokens.")
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return invalid('Malformed input request, please reformat your input and try again.')
  }
  if (!isObject(json) || json.input === undefined) {
    return invalid("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null")
  }
  const input = json.input
  const kinds = isObject(input) ? Object.keys(input).filter((k) => input[k] !== undefined && input[k] !== null) : []
  if (!isObject(input) || kinds.length !== 1 || (kinds[0] !== 'converse' && kinds[0] !== 'invokeModel')) {
    return invalid('Malformed input request: input must contain exactly one of [converse, invokeModel], please reformat your input and try again.')
  }
  if (kinds[0] === 'converse') {
    const parsed = validateConverseBody(input.converse)
    return parsed.ok ? { ok: true, inputTokens: countInputTokens(parsed.body) } : parsed
  }
  const invoke = input.invokeModel
  if (!isObject(invoke) || typeof invoke.body !== 'string') {
    return invalid("1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null")
  }
  const body = base64ToText(invoke.body)
  if (body === undefined) return invalid('Malformed input request: input.invokeModel.body must be base64-encoded JSON, please reformat your input and try again.')
  const parsed = parseInvokeBody(modelId, body)
  return parsed.ok ? { ok: true, inputTokens: countInputTokens(parsed.request.converse) } : parsed
}
