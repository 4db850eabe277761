/**
 * Per-model prompts and per-pool guardrails, applied to the Converse body the chosen deployment receives — after the
 * routing decision and after cross-family adaptation (engine.ts BodyCache), so a Claude and a Nova deployment of one
 * pool each get the system text written for them. Pure: body in, body out.
 *
 * - Prompt: system text prepended and/or appended, or a named template (config `templates`, one text per model
 *   family, `default` for the rest) prepended, with `{{variable}}` filled from the request's tags (requestMetadata,
 *   x-router-tags; a missing one becomes empty). A request using Bedrock Prompt Management (`promptVariables`) is
 *   left untouched: its prompt lives in Bedrock.
 * - Guardrail: `guardrailConfig` added to every Converse request (streams get `streamProcessingMode`); the client's
 *   own guardrail wins unless the pool enforces its own. InvokeModel gets the equivalent headers.
 */
import type { GuardrailPolicy, PromptPolicy } from '../config/types'

type Body = Record<string, unknown>

export interface Applied {
  body: Body
  /** What was applied, for the trace (`template support (anthropic)`, `system prepend`), if anything. */
  prompt?: string
  guardrail?: string
}

export function applyPrompt(body: Body, prompt: PromptPolicy | undefined, family: string, vars: Record<string, string>): { body: Body; applied?: string } {
  if (!prompt || body.promptVariables !== undefined) return { body }
  const own = prompt.byFamily?.[family]
  const prepend = own?.prepend ?? prompt.prepend
  const append = own?.append ?? prompt.append
  const template = own?.template ?? prompt.template
  const templateText = template ? (template.texts[family] ?? template.texts.default) : undefined
  const before = [templateText, prepend].filter((t): t is string => typeof t === 'string' && t !== '').map((t) => fill(t, vars))
  const after = typeof append === 'string' && append !== '' ? [fill(append, vars)] : []
  if (before.length === 0 && after.length === 0) return { body }
  const system = Array.isArray(body.system) ? (body.system as unknown[]) : []
  const parts = [template && templateText !== undefined ? `template ${template.name} (${template.texts[family] !== undefined ? family : 'default'})` : '', prepend ? 'system prepend' : '', after.length ? 'system append' : ''].filter(Boolean)
  return {
    body: { ...body, system: [...before.map((text) => ({ text })), ...system, ...after.map((text) => ({ text }))] },
    applied: parts.join(', '),
  }
}

export function applyGuardrail(body: Body, guardrail: GuardrailPolicy | undefined, stream: boolean): { body: Body; applied?: string } {
  if (!guardrail) return { body }
  if (body.guardrailConfig !== undefined && !guardrail.enforce) return { body, applied: "the client's own" }
  const config: Record<string, unknown> = { guardrailIdentifier: guardrail.identifier, guardrailVersion: guardrail.version }
  if (guardrail.trace) config.trace = guardrail.trace
  if (stream && guardrail.streamProcessingMode) config.streamProcessingMode = guardrail.streamProcessingMode
  return { body: { ...body, guardrailConfig: config }, applied: `${guardrail.identifier}:${guardrail.version}` }
}

/** InvokeModel's guardrail headers (the client's own win unless the pool enforces). */
export function guardrailHeaders(guardrail: GuardrailPolicy | undefined, clientHeaders: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!guardrail) return clientHeaders
  if (clientHeaders?.['x-amzn-bedrock-guardrailidentifier'] && !guardrail.enforce) return clientHeaders
  return {
    ...clientHeaders,
    'x-amzn-bedrock-guardrailidentifier': guardrail.identifier,
    'x-amzn-bedrock-guardrailversion': guardrail.version,
    ...(guardrail.trace && guardrail.trace !== 'disabled' ? { 'x-amzn-bedrock-trace': 'ENABLED' } : {}),
  }
}

function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_.:-]+)\s*\}\}/g, (_m, name: string) => (Object.hasOwn(vars, name) ? vars[name] : ''))
}
