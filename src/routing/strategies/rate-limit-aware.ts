/**
 * `rate-limit-aware`: the deployment with the most relative headroom after this request (min of the rpm and tpm
 * fractions left in its sliding window, queued reservations included); near-ties are broken by weight, which spreads
 * load over equally free deployments. Deployments this request would overflow are not candidates (see candidates.ts);
 * when none has room the engine queues or rejects.
 */
import { nearBest, pickByWeight, type StrategyDefinition } from './strategy'

/** Headroom differences below this are ties. */
const TIE = 0.02

export const rateLimitAware: StrategyDefinition = {
  summary: 'the most headroom in the 60 s rpm/tpm windows; 429 (or a bounded queue) when every window is full',
  usesWindows: true,
  canQueue: true,
  pick: (candidates, { rng }) => {
    const best = nearBest(candidates, (c) => c.headroom, false, TIE)
    const candidate = pickByWeight(best, rng)
    return { candidate, reason: `most headroom (${Math.round(candidate.headroom * 100)}% left)` }
  },
}
