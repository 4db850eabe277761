/**
 * The pure routing core's entry points. No I/O: time (`now`, epoch ms) and randomness (`rng`) are parameters and all
 * state lives in the JSON-serialisable PoolState the caller persists.
 */
export { decide } from './decide'
export { record } from './record'
export { snapshot } from './snapshot'
export { createPoolState, prunePoolState } from './state'
export type {
  AttemptOutcome,
  Decision,
  DeploymentSnapshot,
  DeploymentState,
  PoolState,
  RequestEstimate,
  Reservation,
  UpstreamResult,
} from './types'
