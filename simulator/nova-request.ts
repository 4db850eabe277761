/**
 * InvokeModel bodies for Amazon Nova models (messages-v1): `{schemaVersion?, system?, messages, inferenceConfig?,
 * toolConfig?}`, nearly the Converse body. `inferenceConfig.maxTokens` (Nova 2) or `max_new_tokens` (Nova 1) caps
 * the answer. Keys of other families' bodies (`anthropic_version`, `max_tokens`, `prompt`) are rejected as
 * extraneous, as Bedrock's schema does.
 */
import { awsError } from './errors'
import { validateConverseBody, type ConverseBody, type ParsedBody } from './converse-request'

const ALLOWED_KEYS = new Set(['schemaVersion', 'system', 'messages', 'inferenceConfig', 'toolConfig'])

const invalid = (detail: string): ParsedBody => ({
  ok: false,
  error: awsError(400, 'ValidationException', `Malformed input request: ${detail}, please reformat your input and try again.`),
})

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A Nova body as a ConverseBody (maxTokens taken from either spelling). */
export function parseNovaBody(text: string): ParsedBody {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: awsError(400, 'ValidationException', 'Malformed input request, please reformat your input and try again.') }
  }
  if (!isObject(json)) return invalid('#: expected type: JSONObject')
  const extra = Object.keys(json).filter((k) => !ALLOWED_KEYS.has(k))
  if (extra.length) return invalid(extra.map((k) => `#: extraneous key [${k}] is not permitted`).join(''))
  const config = json.inferenceConfig
  let body: Record<string, unknown> = json
  if (isObject(config) && config.maxTokens === undefined && config.max_new_tokens !== undefined) {
    body = { ...json, inferenceConfig: { ...config, maxTokens: config.max_new_tokens } }
  }
  const parsed = validateConverseBody(body)
  if (!parsed.ok) return parsed
  return { ok: true, body: parsed.body as ConverseBody }
}
