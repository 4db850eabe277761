/**
 * Intelligent Prompt Routing: a prompt-router ARN as modelId picks one of two models of a family
 * (short prompts → the smaller one) and reports it as an inference-profile ARN.
 */

const ROUTER_ARN = /^arn:aws(?:-[a-z-]+)?:bedrock:([a-z0-9-]+):(\d{12}):(default-)?prompt-router\/([A-Za-z0-9\-:.]+)$/

const DEFAULT_ROUTERS: Record<string, [string, string]> = {
  'anthropic.claude:1': ['anthropic.claude-3-haiku-20240307-v1:0', 'anthropic.claude-3-5-sonnet-20240620-v1:0'],
  'meta.llama:1': ['meta.llama3-1-8b-instruct-v1:0', 'meta.llama3-1-70b-instruct-v1:0'],
  'amazon.nova:1': ['amazon.nova-lite-v1:0', 'amazon.nova-pro-v1:0'],
}
const CUSTOM_ROUTER_MODELS: [string, string] = ['amazon.nova-lite-v1:0', 'amazon.nova-pro-v1:0']

/** Prompts with at least this many characters go to the larger model. */
export const ROUTER_LONG_PROMPT_CHARS = 200

export interface PromptRouter {
  account: string
  routerId: string
  isDefault: boolean
  models: [string, string]
}

export function parsePromptRouter(modelId: string): PromptRouter | undefined {
  const m = ROUTER_ARN.exec(modelId)
  if (!m) return undefined
  const isDefault = m[3] !== undefined
  const models = (isDefault && DEFAULT_ROUTERS[m[4]]) || CUSTOM_ROUTER_MODELS
  return { account: m[2], routerId: m[4], isDefault, models }
}

export function geoPrefix(region: string): string {
  if (region.startsWith('us-gov-')) return 'us-gov'
  if (region.startsWith('eu-')) return 'eu'
  if (region.startsWith('ap-') || region.startsWith('me-')) return 'apac'
  return 'us'
}

/** The inference-profile ARN the router "invoked" for a prompt of `promptChars` characters. */
export function routeModel(router: PromptRouter, region: string, promptChars: number): string {
  const model = promptChars >= ROUTER_LONG_PROMPT_CHARS ? router.models[1] : router.models[0]
  return `arn:aws:bedrock:${region}:${router.account}:inference-profile/${geoPrefix(region)}.${model}`
}
