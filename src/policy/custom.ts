/**
 * Custom strategies: the equivalent of routing logic in a Lambda function. Before the routing decision the router asks
 * your logic — a webhook, a Worker service binding (no network hop), or a function in process — with the request's
 * features and every candidate's live state, and gets back a deployment id or a ranking. It has `timeoutMs` (default
 * 50) to answer; late, failing or unusable answers (unknown ids, bad JSON) fall back to the pool's `fallback`
 * strategy, and after FAILURES_TO_SKIP failures in a row the logic is skipped for SKIP_MS (its own breaker, per
 * isolate). The ranking still passes the router's hard limits (windows, misconfiguration, rules).
 *
 * Protocol: POST application/json `{ pool, request: {model, frontDoor, hasTools, …, tags, client}, candidates: [{ id,
 * modelId, region, fallback, usable, preferred, reason, softReasons, breaker, window, limits, latencyMs, price }] }`,
 * answered `{ "deployment": "<id>" }` or `{ "ranking": ["<id>", …] }`.
 */
import type { PoolConfig } from '../config/types'
import { priceOf } from '../routing/models'
import type { DeploymentSnapshot } from '../routing/types'
import type { CustomStrategyConfig, RequestFeatures } from './types'

export const FAILURES_TO_SKIP = 3
export const SKIP_MS = 10_000

/** A function form of a custom strategy (createRouter's `strategies` option). */
export type CustomStrategyFunction = (input: CustomStrategyInput) => CustomStrategyAnswer | Promise<CustomStrategyAnswer>
export type CustomStrategyAnswer = { deployment: string } | { ranking: string[] }

export interface CustomStrategyInput {
  pool: string
  request: Omit<RequestFeatures, 'header'>
  candidates: Array<Pick<DeploymentSnapshot, 'id' | 'modelId' | 'region' | 'fallback' | 'usable' | 'preferred' | 'reason' | 'softReasons' | 'breaker' | 'window' | 'limits' | 'latencyMs'> & { price: { input: number; output: number } | null }>
}

export interface CustomAnswer {
  /** The order of preference, when the logic gave a usable one. */
  ranking?: string[]
  /** For the trace: what happened (`webhook: ranked 3`, `webhook: timed out after 50 ms, fell back to weighted`). */
  note: string
}

const breakers = new Map<string, { failures: number; skipUntil: number }>()

export async function askCustomStrategy(
  pool: PoolConfig,
  custom: CustomStrategyConfig,
  features: RequestFeatures,
  snapshot: DeploymentSnapshot[] | undefined,
  env: Record<string, unknown>,
  functions: Record<string, CustomStrategyFunction> | undefined,
): Promise<CustomAnswer> {
  const key = custom.url ?? (custom.binding ? `binding:${custom.binding}` : `function:${custom.function}`)
  const kind = custom.url ? 'webhook' : custom.binding ? 'service binding' : 'function'
  const state = breakers.get(key) ?? { failures: 0, skipUntil: 0 }
  breakers.set(key, state)
  const fallBack = (why: string): CustomAnswer => {
    state.failures++
    if (state.failures >= FAILURES_TO_SKIP) state.skipUntil = Date.now() + SKIP_MS
    return { note: `${kind} ${why}; fell back to ${custom.fallback}` }
  }
  if (Date.now() < state.skipUntil) return { note: `${kind} skipped after ${state.failures} failures in a row; fell back to ${custom.fallback}` }
  const { header: _header, ...request } = features
  const input: CustomStrategyInput = {
    pool: pool.name,
    request,
    candidates: pool.deployments.map((d) => {
      const s = snapshot?.find((x) => x.id === d.id)
      return {
        id: d.id,
        modelId: d.modelId,
        region: d.region,
        fallback: d.fallback,
        usable: s?.usable ?? true,
        preferred: s?.preferred ?? true,
        reason: s?.reason ?? null,
        softReasons: s?.softReasons ?? [],
        breaker: s?.breaker ?? 'closed',
        window: s?.window ?? { requests: 0, tokens: 0, queuedRequests: 0, queuedTokens: 0 },
        limits: s?.limits ?? { configuredRpm: d.rpm ?? null, configuredTpm: d.tpm ?? null },
        latencyMs: s?.latencyMs ?? { converse: null, stream: null },
        price: priceOf(d) ?? null,
      }
    }),
  }
  let answer: unknown
  try {
    answer = await callCustomLogic(custom, input, env, functions)
  } catch (e) {
    return fallBack(e instanceof DeadlineError ? `timed out after ${custom.timeoutMs} ms` : `failed (${e instanceof Error ? e.message : String(e)})`)
  }
  const ids = new Set(pool.deployments.map((d) => d.id))
  const ranking = rankingOf(answer)
  if (!ranking || ranking.length === 0 || !ranking.every((id) => ids.has(id))) return fallBack('answered no known deployment')
  state.failures = 0
  return { ranking: [...new Set(ranking)], note: `${kind} chose ${ranking[0]}${ranking.length > 1 ? ` (ranked ${ranking.length})` : ''}` }
}

/** Where custom logic lives, for a strategy or a cascade's check: a webhook, a service binding, or a function. */
export type CustomLogic = Pick<CustomStrategyConfig, 'url' | 'binding' | 'function' | 'headers' | 'timeoutMs'>

/** Calls custom logic with `input` (JSON), within its deadline; throws DeadlineError when late, Error when it fails. */
export function callCustomLogic(logic: CustomLogic, input: unknown, env: Record<string, unknown>, functions: Record<string, (input: never) => unknown> | undefined): Promise<unknown> {
  return withDeadline(call(logic, input, env, functions), logic.timeoutMs)
}

async function call(custom: CustomLogic, input: unknown, env: Record<string, unknown>, functions: Record<string, (input: never) => unknown> | undefined): Promise<unknown> {
  if (custom.function) {
    const fn = functions?.[custom.function] as ((input: unknown) => unknown) | undefined
    if (!fn) throw new Error(`no function "${custom.function}" was given to the router`)
    return fn(input)
  }
  const body = JSON.stringify(input)
  const headers = { 'content-type': 'application/json', accept: 'application/json', ...custom.headers }
  let res: Response
  if (custom.binding) {
    const binding = env[custom.binding] as { fetch?: (req: Request) => Promise<Response> } | undefined
    if (typeof binding?.fetch !== 'function') throw new Error(`no service binding ${custom.binding}`)
    res = await binding.fetch(new Request('https://custom-strategy.internal/', { method: 'POST', headers, body }))
  } else {
    res = await fetch(custom.url!, { method: 'POST', headers, body, signal: AbortSignal.timeout(custom.timeoutMs + 50) })
  }
  if (!res.ok) {
    await res.body?.cancel()
    throw new Error(`HTTP ${res.status}`)
  }
  return res.json()
}

function rankingOf(answer: unknown): string[] | undefined {
  if (!answer || typeof answer !== 'object') return undefined
  const a = answer as { deployment?: unknown; ranking?: unknown }
  if (typeof a.deployment === 'string') return [a.deployment]
  if (Array.isArray(a.ranking) && a.ranking.every((x) => typeof x === 'string')) return a.ranking as string[]
  return undefined
}

export class DeadlineError extends Error {}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlineError()), ms)))]).finally(() => clearTimeout(timer))
}
