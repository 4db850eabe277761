/**
 * The Bedrock Runtime routes the simulator serves, and which operations count as streams (for stream-only fault
 * rules) and against model quotas.
 */
import type { Operation } from './types'

export const OPERATIONS: readonly Operation[] = ['converse', 'converse-stream', 'invoke', 'invoke-stream', 'count-tokens', 'apply-guardrail']

/** Operations whose answer is an event stream: cut, exception and delay rules apply to these only. */
export const STREAM_OPERATIONS: ReadonlySet<Operation> = new Set(['converse-stream', 'invoke-stream'])

/** Operations that run the model, so RPM/TPM quotas count them (Bedrock does not count CountTokens). */
export const QUOTA_OPERATIONS: ReadonlySet<Operation> = new Set(['converse', 'converse-stream', 'invoke', 'invoke-stream'])

type ModelOperation = Exclude<Operation, 'apply-guardrail'>

/** The last path segment after `/model/{modelId}/` → operation (a Map: no prototype keys such as `constructor`). */
const MODEL_ACTIONS = new Map<string, ModelOperation>([
  ['converse', 'converse'],
  ['converse-stream', 'converse-stream'],
  ['invoke', 'invoke'],
  ['invoke-with-response-stream', 'invoke-stream'],
  ['count-tokens', 'count-tokens'],
])

const MODEL_ROUTE = /^\/model\/([^/]+)\/([a-z-]+)$/
const GUARDRAIL_ROUTE = /^\/guardrail\/([^/]+)\/version\/([^/]+)\/apply$/

export type Route =
  | { operation: ModelOperation; modelId: string | undefined }
  | { operation: 'apply-guardrail'; guardrailIdentifier: string | undefined; guardrailVersion: string | undefined }

function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}

/** The operation a POST path names, with its decoded labels (undefined when a label is not valid percent-encoding). */
export function parseRoute(pathname: string): Route | undefined {
  const model = MODEL_ROUTE.exec(pathname)
  if (model) {
    const operation = MODEL_ACTIONS.get(model[2])
    return operation ? { operation, modelId: decode(model[1]) } : undefined
  }
  const guardrail = GUARDRAIL_ROUTE.exec(pathname)
  if (guardrail) return { operation: 'apply-guardrail', guardrailIdentifier: decode(guardrail[1]), guardrailVersion: decode(guardrail[2]) }
  return undefined
}

/** The key under which stats are kept and rule `modelId` selectors match: the model ID, or `guardrail/{id}`. */
export function resourceKey(route: Route): string | undefined {
  if (route.operation !== 'apply-guardrail') return route.modelId
  return route.guardrailIdentifier === undefined ? undefined : `guardrail/${route.guardrailIdentifier}`
}
