/**
 * `custom`: your own routing logic — a webhook, a Worker service binding, or a function in process (src/policy/custom.ts
 * asks it before the routing decision and hands its answer over as `req.ranking`). Here, inside the atomic decision, the
 * first deployment of that ranking that may take the request wins; hard blocks (full windows, misconfiguration, a rule's
 * restriction) still apply, so a ranking can never send where the router must not. Without a ranking (the logic was
 * late, failed or answered nonsense) the engine has already swapped in the pool's fallback strategy.
 */
import { pickByWeight, type StrategyDefinition } from './strategy'

export const custom: StrategyDefinition = {
  summary: 'your own ranking (a webhook, a service binding, or a function), within the router’s hard limits',
  usesWindows: true,
  canQueue: false,
  pick: (candidates, { req, rng }) => {
    for (const [i, id] of (req.ranking ?? []).entries()) {
      const c = candidates.find((x) => x.deployment.id === id)
      if (c) return { candidate: c, reason: i === 0 ? 'custom strategy: its first choice' : `custom strategy: its choice #${i + 1} (earlier ones cannot take the request)` }
    }
    return { candidate: pickByWeight(candidates, rng), reason: 'custom strategy ranked none of the usable deployments: weighted random' }
  },
}
