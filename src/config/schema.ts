/**
 * ROUTER_CONFIG schema (valibot) and its normalisation into RouterConfig (types.ts).
 * Errors name the field by path, e.g. `pools.sonnet.deployments[1].weight: expected a number ≥ 0`.
 */
import * as v from 'valibot'
import { familyOf } from '../routing/overrides'
import { STRATEGIES, strategyOf, type StrategyName } from '../routing/strategies'
import { DEFAULT_AFFINITY, type AffinitySettings } from '../routing/affinity'
import { CascadeSchema, cascadeProblems, compileRuleConfig, CustomSchema, ExperimentSchema, GuardrailPolicySchema, poolPolicyProblems, PromptSchema, resolvePrompt, RulesSchema, TemplatesSchema } from './policy-schema'
import type { BreakerConfig, DeploymentConfig, LeaseSettings, PoolConfig, RouterConfig, TokenConfig } from './types'

const positiveInt = (what: string) =>
  v.pipe(v.number(`${what} must be a number`), v.integer(`${what} must be a whole number`), v.minValue(1, `${what} must be ≥ 1`))
const nonNegative = (what: string) => v.pipe(v.number(`${what} must be a number`), v.minValue(0, `${what} must be ≥ 0`))
const text = (what: string) => v.pipe(v.string(`${what} must be a string`), v.trim(), v.nonEmpty(`${what} must not be empty`))
const LEASES_SHAPE = 'leases must be true, false, "auto" or { renewMs, sliceFactor, auto }'

const PriceSchema = v.strictObject({
  input: nonNegative('price.input'),
  output: nonNegative('price.output'),
  tiers: v.optional(v.strictObject({ priority: v.optional(nonNegative('price.tiers.priority')), flex: v.optional(nonNegative('price.tiers.flex')), reserved: v.optional(nonNegative('price.tiers.reserved')) })),
})

const OverrideSchema = v.strictObject({
  dropAdditionalModelRequestFields: v.optional(v.boolean()),
  dropReasoningContent: v.optional(v.boolean()),
  dropAdditionalModelResponseFieldPaths: v.optional(v.boolean()),
})

const DeploymentSchema = v.strictObject({
  id: v.pipe(text('id'), v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'id may use letters, digits and . _ : - (at most 64)')),
  modelId: v.pipe(text('modelId'), v.maxLength(2048, 'modelId is longer than 2048 characters')),
  region: v.pipe(text('region'), v.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'region must look like us-east-1')),
  weight: v.optional(nonNegative('weight'), 1),
  fallback: v.optional(v.boolean('fallback must be true or false'), false),
  endpoint: v.optional(
    v.pipe(
      text('endpoint'),
      v.url('endpoint must be an absolute URL'),
      v.check((s) => /^https?:\/\//.test(s), 'endpoint must be an http(s) URL'),
    ),
  ),
  credentials: v.optional(v.pipe(text('credentials'), v.regex(/^[A-Za-z0-9_]+$/, 'credentials names an env suffix: letters, digits, _'))),
  rpm: v.optional(positiveInt('rpm')),
  tpm: v.optional(positiveInt('tpm')),
  tokensPerDay: v.optional(positiveInt('tokensPerDay')),
  quotaGroup: v.optional(
    v.pipe(
      text('quotaGroup'),
      v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'quotaGroup may use letters, digits and . _ : - (at most 64)'),
      // A key of the state's group maps: "__proto__" would set the map's prototype instead of a group.
      v.check((s) => s !== '__proto__', 'quotaGroup cannot be __proto__'),
    ),
  ),
  price: v.optional(PriceSchema),
  maxOutputTokens: v.optional(positiveInt('maxOutputTokens')),
  budgetUsdPerDay: v.optional(nonNegative('budgetUsdPerDay')),
  budgetUsdPerMonth: v.optional(nonNegative('budgetUsdPerMonth')),
  burndown: v.optional(v.pipe(nonNegative('burndown'), v.minValue(1, 'burndown must be ≥ 1'))),
  family: v.optional(text('family')),
  override: v.optional(OverrideSchema),
  prompt: v.optional(PromptSchema),
  guardrail: v.optional(GuardrailPolicySchema),
})

const share = (what: string) => v.pipe(nonNegative(what), v.maxValue(1, `${what} must be ≤ 1`))

const BreakerSchema = v.strictObject({
  /** Replaced by consecutiveFailures; accepted only to name the replacement in the error. */
  failureThreshold: v.optional(v.unknown()),
  consecutiveFailures: v.optional(positiveInt('breaker.consecutiveFailures')),
  windowMs: v.optional(positiveInt('breaker.windowMs')),
  failureRate: v.optional(share('breaker.failureRate')),
  minRequests: v.optional(positiveInt('breaker.minRequests')),
  cooldownMs: v.optional(positiveInt('breaker.cooldownMs')),
  maxCooldownMs: v.optional(positiveInt('breaker.maxCooldownMs')),
  halfOpenProbes: v.optional(positiveInt('breaker.halfOpenProbes')),
  successesToClose: v.optional(positiveInt('breaker.successesToClose')),
  maxEjectionPercent: v.optional(v.pipe(nonNegative('breaker.maxEjectionPercent'), v.maxValue(100, 'breaker.maxEjectionPercent must be ≤ 100'))),
  panicThreshold: v.optional(share('breaker.panicThreshold')),
})

const PoolSchema = v.strictObject({
  strategy: v.optional(
    v.picklist(STRATEGIES as [StrategyName, ...StrategyName[]], `strategy must be one of: ${STRATEGIES.join(', ')}`),
    'weighted',
  ),
  deployments: v.pipe(
    v.array(DeploymentSchema, 'deployments must be an array'),
    v.minLength(1, 'deployments must list at least one deployment'),
  ),
  maxAttempts: v.optional(positiveInt('maxAttempts')),
  timeoutMs: v.optional(positiveInt('timeoutMs')),
  attemptTimeoutMs: v.optional(positiveInt('attemptTimeoutMs')),
  ttfbTimeoutMs: v.optional(positiveInt('ttfbTimeoutMs')),
  streamIdleTimeoutMs: v.optional(positiveInt('streamIdleTimeoutMs')),
  maxQueueMs: v.optional(nonNegative('maxQueueMs')),
  maxPacingMs: v.optional(nonNegative('maxPacingMs')),
  breaker: v.optional(BreakerSchema),
  latencyTtlMs: v.optional(positiveInt('latencyTtlMs')),
  exploration: v.optional(v.pipe(nonNegative('exploration'), v.maxValue(1, 'exploration must be ≤ 1'))),
  experiment: v.optional(ExperimentSchema),
  custom: v.optional(CustomSchema),
  serviceTier: v.optional(v.strictObject({ default: v.optional(v.picklist(['default', 'flex', 'priority'], 'serviceTier.default must be default, flex or priority')), onThrottle: v.optional(v.picklist(['priority'], 'serviceTier.onThrottle must be priority')) })),
  prompt: v.optional(PromptSchema),
  guardrail: v.optional(GuardrailPolicySchema),
  cascade: v.optional(CascadeSchema),
  cache: v.optional(
    v.strictObject({
      ttlSeconds: v.pipe(positiveInt('cache.ttlSeconds'), v.maxValue(604_800, 'cache.ttlSeconds must be ≤ 604800 (a week)')),
      shared: v.optional(v.boolean('cache.shared must be true or false'), false),
    }),
  ),
  // An object is checked as one (its own field's message, not the union's); anything else against the plain forms.
  leases: v.optional(
    v.lazy((input) =>
      typeof input === 'object' && input !== null && !Array.isArray(input)
        ? v.strictObject({
            renewMs: v.optional(v.pipe(positiveInt('leases.renewMs'), v.minValue(50, 'leases.renewMs must be ≥ 50'), v.maxValue(10_000, 'leases.renewMs must be ≤ 10000'))),
            sliceFactor: v.optional(v.pipe(v.number('leases.sliceFactor must be a number'), v.minValue(1, 'leases.sliceFactor must be ≥ 1'), v.maxValue(10, 'leases.sliceFactor must be ≤ 10'))),
            auto: v.optional(v.boolean('leases.auto must be true or false')),
          })
        : v.union([v.boolean(LEASES_SHAPE), v.literal('auto', LEASES_SHAPE)], LEASES_SHAPE),
    ),
  ),
  affinity: v.optional(
    v.union(
      [
        v.literal(false),
        v.strictObject({
          minHeadroom: v.optional(share('affinity.minHeadroom')),
          maxImbalance: v.optional(v.pipe(v.number('affinity.maxImbalance must be a number'), v.minValue(1, 'affinity.maxImbalance must be ≥ 1'))),
          // Bounded so a pool's state stays well inside Deno KV's 64 KiB per value (≈ 45 bytes a key).
          maxEntries: v.optional(v.pipe(positiveInt('affinity.maxEntries'), v.maxValue(1000, 'affinity.maxEntries must be ≤ 1000'))),
          sessionTtlSeconds: v.optional(v.pipe(positiveInt('affinity.sessionTtlSeconds'), v.maxValue(3600, 'affinity.sessionTtlSeconds must be ≤ 3600 (Bedrock caches live at most an hour)'))),
          sessionMetadataKey: v.optional(v.pipe(text('affinity.sessionMetadataKey'), v.maxLength(256))),
        }),
      ],
      'affinity must be false or an object with minHeadroom, maxImbalance, maxEntries, sessionTtlSeconds, sessionMetadataKey',
    ),
  ),
})

const GuardrailSchema = v.strictObject({
  region: v.pipe(text('region'), v.regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'region must look like us-east-1')),
  endpoint: v.optional(v.pipe(text('endpoint'), v.url('endpoint must be an absolute URL'), v.check((s) => /^https?:\/\//.test(s), 'endpoint must be an http(s) URL'))),
  credentials: v.optional(v.pipe(text('credentials'), v.regex(/^[A-Za-z0-9_]+$/, 'credentials names an env suffix: letters, digits, _'))),
})

const FRONT_DOORS = ['bedrock', 'openai', 'anthropic'] as const
const positiveNumber = (what: string) => v.pipe(v.number(`${what} must be a number`), v.minValue(0, `${what} must be ≥ 0`))

const ScopeFields = {
  pools: v.optional(v.array(v.pipe(v.string(), v.nonEmpty()), 'pools must be an array of pool names')),
  frontDoors: v.optional(v.array(v.picklist(FRONT_DOORS, `frontDoors may list ${FRONT_DOORS.join(', ')}`), 'frontDoors must be an array')),
  rpm: v.optional(positiveInt('rpm')),
  tpm: v.optional(positiveInt('tpm')),
  budgetUsdPerDay: v.optional(positiveNumber('budgetUsdPerDay')),
  budgetUsdPerMonth: v.optional(positiveNumber('budgetUsdPerMonth')),
}

const ClientKeySchema = v.strictObject({
  name: v.pipe(text('name'), v.regex(/^[A-Za-z0-9._:@-]{1,64}$/, 'name may use letters, digits and . _ : @ - (at most 64)')),
  sha256: v.pipe(v.string('sha256 must be a string'), v.regex(/^[0-9a-f]{64}$/, 'sha256 must be the hex SHA-256 of the key (64 lower-case hex digits), never the key itself')),
  team: v.optional(v.pipe(text('team'), v.maxLength(64))),
  mint: v.optional(v.boolean('mint must be true or false')),
  admin: v.optional(v.boolean('admin must be true or false')),
  ...ScopeFields,
})

const TokenSchema = v.strictObject({
  algorithms: v.optional(v.pipe(v.array(v.picklist(['HS256', 'ES256', 'RS256'] as const, 'algorithms may list HS256, ES256, RS256')), v.minLength(1, 'algorithms must list at least one'))),
  jwksUrl: v.optional(v.pipe(text('jwksUrl'), v.url('jwksUrl must be an absolute URL'), v.check((s) => /^https?:\/\//.test(s), 'jwksUrl must be an http(s) URL'))),
  keys: v.optional(v.array(v.pipe(v.record(v.string(), v.unknown()), v.check((k) => typeof k.kid === 'string' && typeof k.kty === 'string', 'each key is a JWK with kty and kid')))),
  issuer: v.optional(text('issuer')),
  audience: v.optional(text('audience')),
  clockSkewSeconds: v.optional(v.pipe(nonNegative('clockSkewSeconds'), v.maxValue(300, 'clockSkewSeconds must be ≤ 300'))),
  maxTtlSeconds: v.optional(v.pipe(positiveInt('maxTtlSeconds'), v.maxValue(86_400, 'maxTtlSeconds must be ≤ 86400 (a day)'))),
})

/** Limits a team shares: every key and token of the team (its `team`) counts against them, besides its own. */
const TeamSchema = v.strictObject({
  rpm: ScopeFields.rpm,
  tpm: ScopeFields.tpm,
  budgetUsdPerDay: ScopeFields.budgetUsdPerDay,
  budgetUsdPerMonth: ScopeFields.budgetUsdPerMonth,
})

const ClientsSchema = v.strictObject({
  keys: v.optional(v.array(ClientKeySchema, 'keys must be an array')),
  teams: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:@-]{1,64}$/, 'team names may use letters, digits and . _ : @ -')), TeamSchema, 'teams must be an object')),
  tokens: v.optional(TokenSchema),
})

const CorsSchema = v.strictObject({
  origins: v.array(
    v.pipe(v.string(), v.check((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o), 'each origin is "*" or scheme://host[:port], without a path')),
    'cors.origins must be an array of origins',
  ),
})

const RouterConfigSchema = v.strictObject({
  rules: v.optional(RulesSchema),
  templates: v.optional(TemplatesSchema),
  clients: v.optional(ClientsSchema),
  cors: v.optional(CorsSchema),
  guardrails: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:/._-]{1,2048}$/, 'guardrail ids are ids or ARNs')), GuardrailSchema, 'guardrails must be an object')),
  pools: v.pipe(
    v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,128}$/, 'pool names may use letters, digits and . _ : -')), PoolSchema, 'pools must be an object'),
    v.check((p) => Object.keys(p).length > 0, 'pools must define at least one pool'),
  ),
})

/** Prompt-cache affinity is on unless `affinity: false`; the object form tunes it. */
function affinitySettings(raw: false | { minHeadroom?: number; maxImbalance?: number; maxEntries?: number; sessionTtlSeconds?: number; sessionMetadataKey?: string } | undefined): AffinitySettings {
  if (raw === false) return { ...DEFAULT_AFFINITY, enabled: false }
  return {
    enabled: true,
    minHeadroom: raw?.minHeadroom ?? DEFAULT_AFFINITY.minHeadroom,
    maxImbalance: raw?.maxImbalance ?? DEFAULT_AFFINITY.maxImbalance,
    maxEntries: raw?.maxEntries ?? DEFAULT_AFFINITY.maxEntries,
    sessionTtlMs: raw?.sessionTtlSeconds !== undefined ? raw.sessionTtlSeconds * 1000 : DEFAULT_AFFINITY.sessionTtlMs,
    sessionMetadataKey: raw?.sessionMetadataKey ?? DEFAULT_AFFINITY.sessionMetadataKey,
  }
}

export const DEFAULT_BREAKER: BreakerConfig = {
  consecutiveFailures: 5,
  windowMs: 60_000,
  failureRate: 0.5,
  minRequests: 20,
  cooldownMs: 30_000,
  maxCooldownMs: 300_000,
  halfOpenProbes: 1,
  successesToClose: 2,
  maxEjectionPercent: 50,
  panicThreshold: 0.5,
}

/**
 * Default `maxPacingMs`: no wait. Measured in the noise benchmark (BENCHMARKS.md §6): with several deployments, a wait
 * for a send token served no more requests than sending at once to the best paced deployment and added ~165 ms at
 * p50 under 20 % random throttles; it helps a little only where there is nowhere else to go (one deployment).
 */
export const DEFAULT_MAX_PACING_MS = 0

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`ROUTER_CONFIG is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Validates a parsed ROUTER_CONFIG document and fills in defaults. Throws ConfigError listing every problem. */
export function parseRouterConfig(input: unknown): RouterConfig {
  const parsed = v.safeParse(RouterConfigSchema, input)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.issues.map((issue) => {
        const path = fieldPath(issue.path)
        // A strict object's unknown key: valibot says "Expected never"; say which field is not one.
        const message = issue.type === 'strict_object' && issue.expected === 'never' ? `unknown field ${issue.received} (README, Configuration, lists the fields)` : issue.message
        return path ? `${path}: ${message}` : message
      }),
    )
  }
  const problems: string[] = []
  const seen = new Map<string, string>()
  const templates = parsed.output.templates ?? {}
  const pools: Record<string, PoolConfig> = {}
  for (const [name, raw] of Object.entries(parsed.output.pools)) {
    const deployments: DeploymentConfig[] = raw.deployments.map((d, i) => {
      const where = `pools.${name}.deployments[${i}]`
      const earlier = seen.get(d.id)
      if (earlier) problems.push(`${where}.id: duplicate deployment id "${d.id}" (also at ${earlier})`)
      else seen.set(d.id, where)
      const { prompt, ...deployment } = d
      const resolved = resolvePrompt(prompt, templates, `${where}.prompt`, problems)
      return {
        ...deployment,
        ...(resolved ? { prompt: resolved } : {}),
        endpoint: (d.endpoint ?? `https://bedrock-runtime.${d.region}.amazonaws.com`).replace(/\/+$/, ''),
        family: d.family ?? familyOf(d.modelId),
      }
    })
    if (!deployments.some((d) => !d.fallback)) {
      problems.push(`pools.${name}.deployments: at least one deployment must be a primary (fallback: false)`)
    } else {
      problems.push(...(strategyOf(raw.strategy).validate?.(deployments, `pools.${name}`) ?? []))
    }
    if (raw.breaker?.failureThreshold !== undefined) {
      problems.push(
        `pools.${name}.breaker.failureThreshold: replaced by consecutiveFailures (failures in a row) and failureRate over minRequests; a raw count of failures ejected busy deployments on sporadic errors`,
      )
    }
    if (raw.maxQueueMs !== undefined && raw.maxQueueMs >= (raw.timeoutMs ?? 300_000)) {
      problems.push(`pools.${name}.maxQueueMs: must be shorter than the pool's timeoutMs (${raw.timeoutMs ?? 300_000})`)
    }
    pools[name] = {
      name,
      strategy: raw.strategy,
      deployments,
      // One more with Priority after a throttle: the retry may go to the deployment that throttled.
      maxAttempts: raw.maxAttempts ?? Math.min(deployments.length + (raw.serviceTier?.onThrottle ? 1 : 0), 5),
      timeoutMs: raw.timeoutMs ?? 300_000,
      attemptTimeoutMs: raw.attemptTimeoutMs ?? 120_000,
      ttfbTimeoutMs: raw.ttfbTimeoutMs ?? 30_000,
      streamIdleTimeoutMs: raw.streamIdleTimeoutMs ?? 60_000,
      maxQueueMs: raw.maxQueueMs ?? 0,
      maxPacingMs: raw.maxPacingMs ?? DEFAULT_MAX_PACING_MS,
      breaker: breakerConfig(raw.breaker),
      latencyTtlMs: raw.latencyTtlMs ?? 300_000,
      exploration: raw.exploration ?? 0.05,
      ...(raw.experiment ? { experiment: raw.experiment } : {}),
      ...(raw.custom ? { custom: raw.custom } : {}),
      ...(raw.prompt ? { prompt: resolvePrompt(raw.prompt, templates, `pools.${name}.prompt`, problems) } : {}),
      ...(raw.guardrail ? { guardrail: raw.guardrail } : {}),
      ...(raw.serviceTier ? { serviceTier: raw.serviceTier } : {}),
      ...(raw.cache ? { cache: raw.cache } : {}),
      ...(raw.cascade ? { cascade: raw.cascade } : {}),
      // Default "auto": an isolate leases only while its own rate pays for it; `false`: every request asks the object.
      ...(raw.leases !== false ? { leases: leaseSettings(raw.leases ?? 'auto') } : {}),
      affinity: affinitySettings(raw.affinity),
    }
  }
  problems.push(...quotaGroups(pools))
  const poolNames = new Set(Object.keys(parsed.output.pools))
  for (const [name, raw] of Object.entries(parsed.output.pools)) {
    problems.push(...poolPolicyProblems(name, raw, poolNames), ...cascadeProblems(name, raw.cascade, parsed.output.pools))
  }
  const rules = compileRuleConfig(parsed.output.rules ?? [], pools)
  problems.push(...rules.problems)
  if (problems.length) throw new ConfigError(problems)
  const guardrails: RouterConfig['guardrails'] = {}
  for (const [id, g] of Object.entries(parsed.output.guardrails ?? {})) {
    guardrails[id] = { ...g, endpoint: (g.endpoint ?? `https://bedrock-runtime.${g.region}.amazonaws.com`).replace(/\/+$/, '') }
  }
  const clients = parsed.output.clients
  const names = new Set<string>()
  for (const [i, k] of (clients?.keys ?? []).entries()) {
    if (names.has(k.name)) problems.push(`clients.keys[${i}].name: duplicate key name "${k.name}"`)
    names.add(k.name)
    for (const pool of k.pools ?? []) if (!pools[pool]) problems.push(`clients.keys[${i}].pools: no pool named "${pool}"`)
  }
  const tokens = clients?.tokens
  const algorithms = tokens?.algorithms ?? ['HS256']
  if (algorithms.some((a) => a !== 'HS256') && !tokens?.jwksUrl && !tokens?.keys?.length) {
    problems.push('clients.tokens: ES256/RS256 need jwksUrl or keys')
  }
  if (problems.length) throw new ConfigError(problems)
  return {
    pools,
    rules: rules.rules,
    guardrails,
    cors: { origins: parsed.output.cors?.origins ?? [] },
    clients: {
      keys: clients?.keys ?? [],
      teams: Object.fromEntries(Object.entries(clients?.teams ?? {}).map(([name, t]) => [name, stripUndefined(t)])),
      tokens: { ...stripUndefined(tokens ?? {}), algorithms, clockSkewSeconds: tokens?.clockSkewSeconds ?? 30, maxTtlSeconds: tokens?.maxTtlSeconds ?? 3600 } as TokenConfig,
    },
  }
}

function breakerConfig(raw: v.InferOutput<typeof BreakerSchema> | undefined): BreakerConfig {
  const { failureThreshold: _replaced, ...rest } = raw ?? {}
  return { ...DEFAULT_BREAKER, ...stripUndefined(rest) }
}

/** `pools.sonnet.deployments[1].weight` from a valibot issue path. */
function fieldPath(path: { key: unknown }[] | undefined): string {
  return (path ?? [])
    .map((item) => (typeof item.key === 'number' ? `[${item.key}]` : `.${String(item.key)}`))
    .join('')
    .replace(/^\./, '')
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, value]) => value !== undefined)) as Partial<T>
}

/**
 * A quota group's members share one window and one day's tokens, in whichever pools they are: they must state the same
 * limits (the group's quota), and have one. Pools joined by a group keep their state together (`stateKey`): one object holds
 * the shared window, so every pool's decisions see what the others sent.
 */
/**
 * Leases (state/leases.ts): renewals every 500 ms, slices 1.5 renewal periods of an isolate's recent sends — the
 * settings simulated in BENCHMARKS.md §5d. Every limit a deployment may have is shared out in slices: windows, a quota
 * group's window, the day's tokens and the budgets (routing/lease.ts).
 */
function leaseSettings(raw: true | 'auto' | { renewMs?: number; sliceFactor?: number; auto?: boolean }): LeaseSettings {
  const o = raw === true ? {} : raw === 'auto' ? { auto: true } : raw
  return { renewMs: o.renewMs ?? 500, sliceFactor: o.sliceFactor ?? 1.5, ...(o.auto ? { auto: true as const } : {}) }
}

function quotaGroups(pools: Record<string, PoolConfig>): string[] {
  const problems: string[] = []
  const first = new Map<string, { d: DeploymentConfig; where: string }>()
  const poolsOf = new Map<string, Set<string>>()
  for (const [name, pool] of Object.entries(pools)) {
    pool.deployments.forEach((d, i) => {
      if (d.quotaGroup === undefined) return
      const where = `pools.${name}.deployments[${i}]`
      const f = first.get(d.quotaGroup)
      const quota = (x: DeploymentConfig) => `rpm ${x.rpm ?? 'none'} / tpm ${x.tpm ?? 'none'} / tokensPerDay ${x.tokensPerDay ?? 'none'}`
      if (!f) {
        first.set(d.quotaGroup, { d, where })
        if (d.rpm === undefined && d.tpm === undefined && d.tokensPerDay === undefined) problems.push(`${where}.quotaGroup: the group "${d.quotaGroup}" needs its quota: set rpm, tpm and/or tokensPerDay on its members`)
      } else if (f.d.rpm !== d.rpm || f.d.tpm !== d.tpm || f.d.tokensPerDay !== d.tokensPerDay) {
        problems.push(`${where}: quota group "${d.quotaGroup}" is one quota, but this member states ${quota(d)} and ${f.where} ${quota(f.d)}`)
      }
      const set = poolsOf.get(d.quotaGroup) ?? new Set<string>()
      set.add(name)
      poolsOf.set(d.quotaGroup, set)
    })
  }
  // Pools linked through any chain of shared groups keep one state (union-find over the groups' pools).
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    while (parent.has(x) && parent.get(x) !== x) x = parent.get(x)!
    return x
  }
  for (const names of poolsOf.values()) {
    const [head, ...rest] = [...names]
    if (!parent.has(head)) parent.set(head, head)
    for (const n of rest) {
      if (!parent.has(n)) parent.set(n, n)
      parent.set(find(n), find(head))
    }
  }
  const members = new Map<string, string[]>()
  for (const n of parent.keys()) members.set(find(n), [...(members.get(find(n)) ?? []), n])
  for (const names of members.values()) {
    if (names.length < 2) continue
    const key = `#shared:${names.sort().join('+')}`
    for (const n of names) pools[n].stateKey = key
  }
  return problems
}
