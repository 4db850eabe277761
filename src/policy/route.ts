/**
 * The policy layer between a front door and the engine: rules → pool → experiment arm → strategy (custom logic
 * asked here) → the engine's failover. Each step only narrows or redirects; the routing core's hard limits still hold.
 *
 * 1. Rules (config `rules`, first match wins) on the request's features: send to another pool, restrict to some
 *    deployments, override the strategy, or refuse with the rule's status and message.
 * 2. The (resulting) pool's experiment assigns an arm — sticky per client, header or tag — which may set the strategy
 *    (unless a rule already did) or send the request to another pool.
 * 3. A `custom` strategy asks its webhook, service binding or function for a ranking (falling back to its fallback
 *    strategy when late, failing or wrong).
 * 4. The response cache, when the pool has one (response-cache.ts): a hit answers before any routing.
 * 5. The cascade, when the pool has one (cascade.ts): smaller pools first, escalating on failed checks.
 * Every step is named in the trace: `x-router-rule`, `x-router-arm`, `x-router-custom`, `x-router-cache`.
 */
import type { RouterConfig } from '../config/types'
import { route } from '../engine/engine'
import type { EngineContext, EngineRequest, Outcome, PolicyTrace } from '../engine/outcome'
import { traceFor } from '../engine/trace'
import type { ResponseCache } from '../cache/types'
import type { DeploymentSnapshot } from '../routing/types'
import { askCustomStrategy, type CustomStrategyFunction } from './custom'
import { assignArm, stickyKey } from './experiments'
import { featuresOf } from './features'
import { withCascade } from './cascade'
import { withResponseCache } from './response-cache'
import { firstMatch } from './rules'

export interface PolicyContext extends EngineContext {
  config: RouterConfig
  /** The request's headers (lower-case names), for rules and sticky experiments. */
  header: (name: string) => string | undefined
  /** In-process custom strategies (createRouter's `strategies`). */
  strategies?: Record<string, CustomStrategyFunction>
  /** Where pools with `cache` keep answers (Workers Cache API, Deno KV, memory). */
  responseCache?: ResponseCache
}

const REJECT_TYPES = { 400: 'ValidationException', 403: 'AccessDeniedException', 429: 'ThrottlingException', 503: 'ServiceUnavailableException' } as const

export async function routeWithPolicies(request: EngineRequest, ctx: PolicyContext): Promise<Outcome> {
  const { config } = ctx
  const engine = (r: EngineRequest) => withCascade(r, ctx, (tier) => route(tier, ctx))
  if (config.rules.length === 0 && !request.pool.experiment && request.pool.strategy !== 'custom') return withResponseCache(request, ctx, engine)
  const features = featuresOf(request, ctx.header)
  const policy: PolicyTrace = {}
  const routing: NonNullable<EngineRequest['routing']> = { ...request.routing }
  let pool = request.pool

  const rule = firstMatch(config.rules, features)
  if (rule) {
    policy.rule = rule.name
    const then = rule.then
    if (then.reject) {
      const trace = traceFor(request, request.operation, ctx, policy)
      const status = then.reject.status
      return { kind: 'rejected', cause: 'rule', status, errorType: REJECT_TYPES[status], message: `${then.reject.message} (rule ${rule.name})`, retryAfterMs: 1000, trace }
    }
    if (then.pool) pool = config.pools[then.pool]
    if (then.deployments) routing.only = then.deployments
    if (then.strategy) routing.strategy = then.strategy
  }

  const experiment = pool.experiment
  if (experiment) {
    const arm = assignArm(experiment, stickyKey(experiment, { ...features, pool: pool.name }), Math.random)
    policy.arm = `${experiment.name}/${arm.name}`
    if (arm.pool) pool = config.pools[arm.pool]
    if (arm.strategy && !rule?.then.strategy) routing.strategy = arm.strategy
  }

  if ((routing.strategy ?? pool.strategy) === 'custom') {
    const custom = pool.custom
    if (!custom) {
      routing.strategy = 'weighted'
      policy.custom = 'no custom section on this pool; weighted'
    } else {
      const snapshot = (await ctx.store.snapshot(pool).catch(() => undefined)) as DeploymentSnapshot[] | undefined
      const answer = await askCustomStrategy(pool, custom, { ...features, pool: pool.name }, Array.isArray(snapshot) ? snapshot : undefined, ctx.env, ctx.strategies)
      policy.custom = answer.note
      if (answer.ranking) routing.ranking = answer.ranking
      else routing.strategy = custom.fallback
    }
  }
  return withResponseCache({ ...request, pool, routing, policy }, ctx, engine)
}
