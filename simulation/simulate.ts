/**
 * Virtual-time simulation of a pool under load, running a routing policy (by default the real engine: `decide` /
 * `record` on a PoolState) against simulated Bedrock deployments with true quotas (sim/upstream.ts). Pure and
 * deterministic for a given seed: no timers, no I/O.
 *
 * Each client request arrives (smooth or Poisson arrivals at the offered rate), asks the policy for a deployment,
 * waits until `notBefore` if queued, and is admitted or throttled by the upstream's exact sliding windows (a request
 * counts for 60 s from its arrival, with input + maxTokens until it ends, then what it really used); failures the
 * policy may fail over on are retried on another deployment at once (up to maxAttempts, within the pool's timeoutMs).
 */
import type { PoolConfig } from '../src/config/types'
import { classifyHttp, failoverAllowed } from '../src/routing/classify'
import { costUsd } from '../src/routing/cost'
import { settledTokens } from '../src/routing/quota'
import { mulberry32 } from '../src/routing/random'
import { EventQueue } from './events'
import { enginePolicy } from './engine-policy'
import type { PolicyFactory, RoutingPolicy, UpstreamView } from './policy'
import { SimUpstream, type Arrival, type SimUpstreamConfig } from './upstream'
import type { Decision, RequestEstimate, Reservation, TokenUsage, UpstreamResult } from '../src/routing/types'

export type { PolicyFactory, RoutingPolicy, UpstreamView } from './policy'
export type { SimUpstreamConfig } from './upstream'
export { enginePolicy } from './engine-policy'
export { litellmPolicy, multiplexerPolicy, naivePolicy, noRouterPolicy, oraclePolicy } from './baselines'

/** One client request: what the router estimates and what the model really does. */
export interface SimRequest {
  inputTokens: number
  maxTokens?: number
  outputTokens: number
  stream: boolean
}

export interface SimulationOptions {
  pool: PoolConfig
  /** Simulated Bedrock behaviour per deployment id (default: no quota, 800 ms). */
  upstream: Record<string, SimUpstreamConfig>
  /** Default: the engine with the pool's strategy. */
  policy?: PolicyFactory
  durationMs: number
  /** Offered load in requests per minute, constant or as a function of ms since the start (bursts). */
  offeredRpm: number | ((elapsedMs: number) => number)
  /** Default 'smooth' (evenly spaced). */
  arrivals?: 'smooth' | 'poisson'
  /** Default: 500 input tokens, maxTokens 500, 200 output tokens, Converse. */
  request?: (rng: () => number, index: number) => SimRequest
  seed?: number
  /** Virtual epoch of the start, ms. */
  startMs?: number
  /** Keep each request's arrival time and whether it was served (`SimulationReport.timeline`). */
  timeline?: boolean
}

export interface DeploymentStats {
  attempts: number
  successes: number
  throttles: number
  errors: number
}

export interface SimulationReport {
  policy: string
  requests: number
  succeeded: number
  /** Requests that finally failed with 429 (router reject or upstream throttle). */
  clientThrottled: number
  /** Requests that finally failed otherwise (503 no deployment, 5xx, timeouts). */
  clientFailed: number
  /** Failed requests the policy itself refused (a reject decision), rather than relaying an upstream failure. */
  refused: number
  upstreamAttempts: number
  upstreamThrottles: number
  /** Attempts after a request's first. */
  failovers: number
  /** Requests the policy queued (dispatch with notBefore). */
  queued: number
  /** Successful requests / the deployments' true rpm quota over the run (null without rpm quotas). */
  quotaUsed: number | null
  /** Settled tokens / the deployments' true tpm quota over the run (null without tpm quotas). */
  tokenQuotaUsed: number | null
  /** End-to-end latency of successful requests (queueing and failed attempts included), ms. */
  latencyP50Ms: number
  latencyP95Ms: number
  costUsd: number
  costPer1000Requests: number
  perDeployment: Record<string, DeploymentStats>
  /** With `timeline`: each request's arrival (ms since the start) and whether it was served, in completion order. */
  timeline?: { atMs: number; ok: boolean }[]
}

const DEFAULT_REQUEST = (): SimRequest => ({ inputTokens: 500, maxTokens: 500, outputTokens: 200, stream: false })

interface ClientRequest {
  /** Arrival order. */
  index: number
  arrivedAt: number
  shape: SimRequest
  estimate: RequestEstimate
  tried: string[]
  attempts: number
}

type SimEvent =
  | { kind: 'arrive' }
  | { kind: 'start'; request: ClientRequest; deploymentId: string; reservation: Reservation }
  | {
      kind: 'finish'
      request: ClientRequest
      deploymentId: string
      reservation: Reservation
      result: UpstreamResult
      latencyMs: number
      usage?: TokenUsage
      /** Admitted: the upstream's window entry, settled when the attempt ends (as Bedrock does). */
      arrival?: Arrival
    }

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

export function simulate(options: SimulationOptions): SimulationReport {
  const { pool, durationMs } = options
  const startMs = options.startMs ?? 1_700_000_000_000
  const seed = options.seed ?? 1
  // Separate streams so every policy sees the same arrivals and requests for a seed.
  const arrivalRng = mulberry32(seed)
  // Common random numbers: what deployment d does with request i (fault, latency) depends only on (seed, i, d), so
  // every policy meets the same upstream behaviour and differences between policies are theirs, not the dice's.
  const deploymentIndex = new Map(pool.deployments.map((d, i) => [d.id, i]))
  const upstreamRng = (request: number, deployment: string) =>
    mulberry32(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(request + 1, 0x85ebca6b) ^ Math.imul((deploymentIndex.get(deployment) ?? 0) + 1, 0xc2b2ae35))
  const policyRng = mulberry32(seed ^ 0x9e3779b9)
  const requestOf = options.request ?? DEFAULT_REQUEST
  const rateAt = typeof options.offeredRpm === 'number' ? () => options.offeredRpm as number : options.offeredRpm

  const upstreams = new Map(
    pool.deployments.map((d) => [d.id, new SimUpstream(d, options.upstream[d.id] ?? {}, startMs)]),
  )
  const view: UpstreamView = {
    hasRoom: (id, now, tokens) => upstreams.get(id)?.hasRoom(now, tokens) ?? false,
    isDown: (id, now) => upstreams.get(id)?.isDown(now) ?? true,
    headroom: (id, now, tokens) => upstreams.get(id)?.headroom(now, tokens) ?? 0,
  }
  const policy: RoutingPolicy = (options.policy ?? enginePolicy)(pool, view)
  const mayFailOver = (r: UpstreamResult) => (policy.failoverAllowed ? policy.failoverAllowed(r) : failoverAllowed(r))
  const maxAttempts = Math.max(1, policy.maxAttempts ?? pool.maxAttempts)

  const report: SimulationReport = {
    policy: policy.name,
    requests: 0,
    succeeded: 0,
    clientThrottled: 0,
    clientFailed: 0,
    refused: 0,
    upstreamAttempts: 0,
    upstreamThrottles: 0,
    failovers: 0,
    queued: 0,
    quotaUsed: null,
    tokenQuotaUsed: null,
    latencyP50Ms: 0,
    latencyP95Ms: 0,
    costUsd: 0,
    costPer1000Requests: 0,
    perDeployment: Object.fromEntries(
      pool.deployments.map((d) => [d.id, { attempts: 0, successes: 0, throttles: 0, errors: 0 }]),
    ),
  }
  const latencies: number[] = []
  if (options.timeline) report.timeline = []
  let tokensUsed = 0
  const events = new EventQueue<SimEvent>()

  const nextArrival = (now: number) => {
    const rpm = Math.max(0, rateAt(now - startMs))
    if (rpm <= 0) return now + 1000 // idle: look again in a second
    const gap = 60_000 / rpm
    return now + (options.arrivals === 'poisson' ? -Math.log(1 - arrivalRng()) * gap : gap)
  }

  const fail = (request: ClientRequest, status: number) => {
    if (status === 429) report.clientThrottled++
    else report.clientFailed++
    report.timeline?.push({ atMs: request.arrivedAt - startMs, ok: false })
  }

  const attempt = (request: ClientRequest, now: number) => {
    const decision: Decision = policy.decide(request.estimate, request.tried, now, policyRng)
    if (decision.kind === 'reject') {
      report.refused++
      return fail(request, decision.status)
    }
    if (request.attempts > 0) report.failovers++
    request.attempts++
    request.tried.push(decision.deploymentId)
    if (decision.notBefore !== undefined && decision.notBefore > now) report.queued++
    const at = Math.max(now, decision.notBefore ?? now)
    events.push(at, { kind: 'start', request, deploymentId: decision.deploymentId, reservation: decision.reservation })
  }

  events.push(startMs, { kind: 'arrive' })
  const endMs = startMs + durationMs
  for (let e = events.pop(); e; e = events.pop()) {
    const now = e.time
    const event = e.item
    if (event.kind === 'arrive') {
      if (now >= endMs) continue
      const shape = requestOf(arrivalRng, report.requests)
      report.requests++
      const estimate: RequestEstimate = { inputTokens: shape.inputTokens, stream: shape.stream }
      if (shape.maxTokens !== undefined) estimate.maxTokens = shape.maxTokens
      attempt({ index: report.requests - 1, arrivedAt: now, shape, estimate, tried: [], attempts: 0 }, now)
      events.push(nextArrival(now), { kind: 'arrive' })
    } else if (event.kind === 'start') {
      const upstream = upstreams.get(event.deploymentId)!
      const stats = report.perDeployment[event.deploymentId]
      const { shape } = event.request
      const answer = upstream.admit(now, shape.inputTokens, shape.maxTokens, shape.stream, upstreamRng(event.request.index, event.deploymentId))
      report.upstreamAttempts++
      stats.attempts++
      let usage: TokenUsage | undefined
      if (answer.status === 200) {
        usage = { inputTokens: shape.inputTokens, outputTokens: shape.outputTokens }
      } else if (answer.status === 429) {
        report.upstreamThrottles++
        stats.throttles++
      } else stats.errors++
      const errorType =
        answer.status === 429 ? 'ThrottlingException' : answer.status === 500 ? 'InternalServerException' : answer.status >= 500 ? 'ServiceUnavailableException' : undefined
      const result = classifyHttp(answer.status, errorType)
      events.push(now + answer.durationMs, {
        kind: 'finish',
        request: event.request,
        deploymentId: event.deploymentId,
        reservation: event.reservation,
        result,
        latencyMs: answer.latencyMs,
        ...(usage ? { usage, arrival: answer.arrival } : {}),
      })
    } else {
      const { request, result } = event
      if (event.arrival) upstreams.get(event.deploymentId)!.settle(event.arrival, now, request.shape.inputTokens, request.shape.outputTokens)
      policy.record(
        {
          deploymentId: event.deploymentId,
          reservation: event.reservation,
          result,
          usage: event.usage,
          latencyMs: event.latencyMs,
          stream: request.shape.stream,
        },
        now,
      )
      if (result.class === 'success') {
        report.succeeded++
        report.perDeployment[event.deploymentId].successes++
        latencies.push(now - request.arrivedAt)
        report.timeline?.push({ atMs: request.arrivedAt - startMs, ok: true })
        const deployment = pool.deployments.find((d) => d.id === event.deploymentId)!
        report.costUsd += costUsd(deployment, event.usage!) ?? 0
        tokensUsed += settledTokens(deployment, event.usage!)
        continue
      }
      const canRetry =
        mayFailOver(result) && request.attempts < maxAttempts && now - request.arrivedAt < pool.timeoutMs
      if (canRetry) attempt(request, now)
      else fail(request, result.status)
    }
  }

  const minutes = durationMs / 60_000
  let rpmQuota = 0
  let tpmQuota = 0
  for (const d of pool.deployments) {
    rpmQuota += options.upstream[d.id]?.rpm ?? 0
    tpmQuota += options.upstream[d.id]?.tpm ?? 0
  }
  report.quotaUsed = rpmQuota > 0 ? report.succeeded / (rpmQuota * minutes) : null
  report.tokenQuotaUsed = tpmQuota > 0 ? tokensUsed / (tpmQuota * minutes) : null
  latencies.sort((a, b) => a - b)
  report.latencyP50Ms = percentile(latencies, 0.5)
  report.latencyP95Ms = percentile(latencies, 0.95)
  report.costPer1000Requests = report.requests > 0 ? (report.costUsd / report.requests) * 1000 : 0
  return report
}
