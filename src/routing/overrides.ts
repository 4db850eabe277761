/**
 * Cross-family fallback: adapting a Converse request written for one model family before it is sent to another.
 *
 * What is dropped follows the target deployment's `override` (RequestOverride). When both families are known and
 * differ, every unset field defaults to true: `additionalModelRequestFields` are model-specific by definition (Anthropic
 * `thinking`, `top_k`, `anthropic_beta`…), `reasoningContent` blocks carry another model's signature, and
 * `additionalModelResponseFieldPaths` name another model's fields. When a family is unknown (opaque ARN, no origin),
 * only fields the override sets explicitly are dropped; within one family nothing changes.
 *
 * Pure: the input is never mutated; the result shares unchanged parts with it, and is the input itself when nothing
 * had to change.
 */
import type { DeploymentConfig, RequestOverride } from '../config/types'
import { familyOf } from './models'

export { familyOf } from './models'

const DROP_EVERYTHING: RequestOverride = {
  dropAdditionalModelRequestFields: true,
  dropReasoningContent: true,
  dropAdditionalModelResponseFieldPaths: true,
}
const DROP_NOTHING: RequestOverride = {
  dropAdditionalModelRequestFields: false,
  dropReasoningContent: false,
  dropAdditionalModelResponseFieldPaths: false,
}

export function deploymentFamily(deployment: DeploymentConfig): string {
  return deployment.family || familyOf(deployment.modelId)
}

/** What to drop from a request written for `from` when it is sent to `to`. */
export function resolveOverride(from: DeploymentConfig | undefined, to: DeploymentConfig): RequestOverride {
  const toFamily = deploymentFamily(to)
  const fromFamily = from ? deploymentFamily(from) : 'unknown'
  const known = fromFamily !== 'unknown' && toFamily !== 'unknown'
  if (known && fromFamily === toFamily) return DROP_NOTHING
  const defaults = known ? DROP_EVERYTHING : DROP_NOTHING
  return {
    dropAdditionalModelRequestFields: to.override?.dropAdditionalModelRequestFields ?? defaults.dropAdditionalModelRequestFields,
    dropReasoningContent: to.override?.dropReasoningContent ?? defaults.dropReasoningContent,
    dropAdditionalModelResponseFieldPaths:
      to.override?.dropAdditionalModelResponseFieldPaths ?? defaults.dropAdditionalModelResponseFieldPaths,
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function adaptRequestFor(body: object, from: DeploymentConfig | undefined, to: DeploymentConfig): object {
  if (!isRecord(body)) return body
  const override = resolveOverride(from, to)
  let out: Record<string, unknown> | null = null
  const edit = () => (out ??= { ...body })
  if (override.dropAdditionalModelRequestFields && 'additionalModelRequestFields' in body) {
    delete edit().additionalModelRequestFields
  }
  if (override.dropAdditionalModelResponseFieldPaths && 'additionalModelResponseFieldPaths' in body) {
    delete edit().additionalModelResponseFieldPaths
  }
  if (override.dropReasoningContent && Array.isArray(body.messages)) {
    const messages = withoutReasoning(body.messages)
    if (messages !== body.messages) edit().messages = messages
  }
  return out ?? body
}

function isReasoning(block: unknown): boolean {
  return isRecord(block) && 'reasoningContent' in block
}

/**
 * Messages without reasoningContent blocks. A message left empty is removed, and the neighbours it separated are
 * merged when they have the same role, so user/assistant turns still alternate. Returns the input array when no message had reasoning.
 */
function withoutReasoning(messages: unknown[]): unknown[] {
  if (!messages.some((m) => isRecord(m) && Array.isArray(m.content) && m.content.some(isReasoning))) return messages
  const out: unknown[] = []
  let removed = false // a message was removed since the last one kept
  for (const message of messages) {
    let next = message
    if (isRecord(message) && Array.isArray(message.content) && message.content.some(isReasoning)) {
      const content = message.content.filter((b) => !isReasoning(b))
      if (content.length === 0) {
        removed = true
        continue
      }
      next = { ...message, content }
    }
    const previous = out[out.length - 1]
    const merge = removed
    removed = false
    if (
      merge &&
      isRecord(previous) &&
      isRecord(next) &&
      previous.role === next.role &&
      Array.isArray(previous.content) &&
      Array.isArray(next.content)
    ) {
      out[out.length - 1] = { ...previous, content: [...previous.content, ...next.content] }
    } else out.push(next)
  }
  return out
}
