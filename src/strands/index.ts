/**
 * `bedrock-edge-router/strands`: `RouterModel`, a Strands Agents model that routes in process —
 * `new Agent({ model: new RouterModel({ deployments: [...], strategy: 'rate-limit-aware' }) })`.
 *
 * It is Strands' own `BedrockModel` (message formatting, tool use, caching, guardrails, event mapping, CountTokens:
 * all Strands' code, unchanged) whose AWS SDK client sends every request to a `createRouter` router in this process
 * instead of the network: the router picks the deployment, signs and sends the real call, fails over before the first
 * content, and after it ends the stream with an error the SDK raises. So it composes with Strands' `ModelRouter` as any
 * `BedrockModel` does.
 */
import { BedrockModel, type BedrockModelOptions } from '@strands-agents/sdk/models/bedrock'
import { createRouter, type Router, type RouterOptions } from '../client'

export interface RouterModelOptions extends RouterOptions, Omit<BedrockModelOptions, 'region' | 'clientConfig' | 'apiKey'> {
  /** An existing router to share (its pools, state and stats) instead of creating one from the options. */
  router?: Router
}

/** The SDK's HTTP request as its handlers receive it (the subset used here). */
interface SdkHttpRequest {
  method: string
  path: string
  query?: Record<string, string | string[] | null>
  headers: Record<string, string>
  body?: unknown
}

export class RouterModel extends BedrockModel {
  readonly router: Router

  constructor(options: RouterModelOptions) {
    const { config, deployments, strategy, pool, region, credentials, env, strategies, router: shared, ...modelOptions } = options
    const router = shared ?? createRouter({ config, deployments, strategy, pool, region, credentials, env, strategies })
    super({
      // The model a request names is what Strands keys its Bedrock quirks on (Claude's tool-result status, caching);
      // the router maps a deployment's model ID to its pool.
      modelId: modelOptions.modelId ?? router.defaultModel,
      ...modelOptions,
      region: 'us-east-1',
      clientConfig: {
        // Never used upstream: the router signs with its own credentials. The SDK only needs something to sign with.
        credentials: { accessKeyId: 'in-process', secretAccessKey: 'in-process' },
        requestHandler: inProcessHandler(router),
        maxAttempts: 1, // the router retries across deployments; the SDK retrying the same call would only add latency
      },
    })
    this.router = router
  }
}

/** An AWS SDK request handler that answers from the router in this process. */
function inProcessHandler(router: Router) {
  return {
    metadata: { handlerProtocol: 'in-process' },
    async handle(request: SdkHttpRequest, options?: { abortSignal?: AbortSignal }) {
      const query = new URLSearchParams()
      for (const [k, v] of Object.entries(request.query ?? {})) for (const x of Array.isArray(v) ? v : [v]) if (x !== null) query.append(k, x)
      const url = `http://router.local${request.path}${query.size ? `?${query}` : ''}`
      const headers = new Headers()
      for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() !== 'host' && k.toLowerCase() !== 'content-length') headers.set(k, v)
      const res = await router.fetch(
        new Request(url, { method: request.method, headers, body: request.method === 'GET' ? undefined : (request.body as BodyInit | undefined), signal: options?.abortSignal }),
      )
      const out: Record<string, string> = {}
      res.headers.forEach((v, k) => (out[k] = v))
      return { response: { statusCode: res.status, reason: res.statusText, headers: out, body: res.body ?? new ReadableStream() } }
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {}
    },
  }
}

export { createRouter } from '../client'
export type { Router, RouterOptions } from '../client'
