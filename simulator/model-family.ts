/**
 * Which native body format a model ID takes on InvokeModel, read from the ID itself as Bedrock's own routing
 * would know it. Every model ID is "known" to the simulator unless listed in `unknownModels`; the family only
 * decides the body format.
 */
import { parsePromptRouter } from './prompt-router'

/**
 * `anthropic`: Anthropic Messages body. `nova`: Amazon Nova's messages-v1 body. `other`: another vendor's model
 * (Meta, Mistral, Cohere, Titan, …), whose native body the simulator does not model. `opaque`: an ARN that does not
 * name its model (application inference profile, custom or provisioned model), decided from the body.
 */
export type ModelFamily = 'anthropic' | 'nova' | 'other' | 'opaque'

/** Geographic / global prefixes of cross-Region inference profiles. */
const GEO = /^(?:us|eu|apac|jp|au|ca|us-gov|global)\./

/** The model part of an ID: `us.anthropic.claude-x` → `anthropic.claude-x`, ARNs → their resource name. */
export function baseModelId(modelId: string): string | undefined {
  let id = modelId
  if (id.startsWith('arn:')) {
    const m = /:(?:foundation-model|inference-profile)\/(.+)$/.exec(id)
    if (!m) return undefined
    id = m[1]
  }
  return id.replace(GEO, '')
}

export function modelFamily(modelId: string): ModelFamily {
  const router = parsePromptRouter(modelId)
  const base = router ? router.models[0] : baseModelId(modelId)
  if (base === undefined) return 'opaque'
  if (base.startsWith('anthropic.')) return 'anthropic'
  if (base.startsWith('amazon.nova')) return 'nova'
  return 'other'
}

/**
 * The `model` Bedrock reports in Anthropic responses: Anthropic's own name, e.g. `anthropic.claude-3-haiku-20240307-v1:0`
 * → `claude-3-haiku-20240307`, `us.anthropic.claude-sonnet-4-6` → `claude-sonnet-4-6`. IDs that do not name a
 * model (application inference profiles) are reported as given.
 */
export function anthropicModelName(modelId: string, invokedModelId?: string): string {
  const base = baseModelId(invokedModelId ?? modelId)
  if (base === undefined || !base.startsWith('anthropic.')) return modelId
  return base.slice('anthropic.'.length).replace(/-v\d+(?::\d+)?$/, '')
}
