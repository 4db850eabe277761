/**
 * The config of orchestration policies (src/policy/types.ts): routing rules, experiments and custom strategies —
 * their valibot shapes, and the checks that need the whole config (pools and deployments a rule names exist, regular
 * expressions compile), each problem naming the rule or the pool.
 */
import * as v from 'valibot'
import { compileRules } from '../policy/rules'
import type { CompiledRule, Condition, CustomStrategyConfig, ExperimentConfig, RuleConfig } from '../policy/types'
import { STRATEGIES, type StrategyName } from '../routing/strategies'
import type { PoolConfig, PromptPolicy, ResolvedTemplate } from './types'

const strategy = (what: string) => v.picklist(STRATEGIES as [StrategyName, ...StrategyName[]], `${what} must be one of: ${STRATEGIES.join(', ')}`)
const MatchSchema = v.union(
  [v.string(), v.strictObject({ matches: v.string(), flags: v.optional(v.pipe(v.string(), v.regex(/^[imsu]*$/, 'flags may use i, m, s, u'))) }), v.strictObject({ in: v.array(v.string()) })],
  'a match is a string, {"matches": "<regular expression>"} or {"in": [...]}',
)
const RangeSchema = v.strictObject({ gt: v.optional(v.number()), gte: v.optional(v.number()), lt: v.optional(v.number()), lte: v.optional(v.number()) })
const FRONT_DOORS = ['bedrock', 'openai', 'anthropic'] as const

const FeatureSchema = v.strictObject({
  pool: v.optional(MatchSchema),
  model: v.optional(MatchSchema),
  frontDoor: v.optional(v.union([v.picklist(FRONT_DOORS), v.array(v.picklist(FRONT_DOORS))], `frontDoor may be ${FRONT_DOORS.join(', ')}`)),
  hasTools: v.optional(v.boolean()),
  hasImages: v.optional(v.boolean()),
  hasDocuments: v.optional(v.boolean()),
  inputTokens: v.optional(RangeSchema),
  maxTokens: v.optional(RangeSchema),
  tag: v.optional(v.record(v.string(), MatchSchema)),
  header: v.optional(v.record(v.string(), MatchSchema)),
  client: v.optional(MatchSchema),
  team: v.optional(MatchSchema),
  credential: v.optional(v.picklist(['key', 'token', 'shared-key', 'demo'])),
  systemPrompt: v.optional(MatchSchema),
  lastUserMessage: v.optional(MatchSchema),
})

const ConditionSchema: v.GenericSchema<Condition> = v.lazy(() =>
  v.union(
    [v.strictObject({ all: v.array(ConditionSchema) }), v.strictObject({ any: v.array(ConditionSchema) }), v.strictObject({ not: ConditionSchema }), FeatureSchema],
    'a condition is {"all": [...]}, {"any": [...]}, {"not": {...}} or feature tests (pool, model, frontDoor, hasTools, hasImages, hasDocuments, inputTokens, maxTokens, tag, header, client, team, credential, systemPrompt, lastUserMessage)',
  ),
) as v.GenericSchema<Condition>

const ActionSchema = v.strictObject({
  pool: v.optional(v.string()),
  deployments: v.optional(v.pipe(v.array(v.string()), v.minLength(1, 'then.deployments must name at least one deployment'))),
  strategy: v.optional(strategy('then.strategy')),
  reject: v.optional(v.strictObject({ status: v.picklist([400, 403, 429, 503], 'then.reject.status must be 400, 403, 429 or 503'), message: v.pipe(v.string(), v.nonEmpty()) })),
})

export const RulesSchema = v.array(
  v.strictObject({ name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a rule name may use letters, digits and . _ : - (at most 64)')), when: ConditionSchema, then: ActionSchema }),
  'rules must be an array of {name, when, then}',
)

export const ExperimentSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'experiment.name may use letters, digits and . _ : -')),
  arms: v.pipe(
    v.array(v.strictObject({ name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'an arm name may use letters, digits and . _ : -')), weight: v.optional(v.pipe(v.number(), v.minValue(0)), 1), strategy: v.optional(strategy('arm strategy')), pool: v.optional(v.string()) })),
    v.minLength(2, 'experiment.arms must list at least two arms'),
  ),
  sticky: v.optional(v.custom<ExperimentConfig['sticky']>((s) => typeof s === 'string' && /^(client|header:[A-Za-z0-9-]+|tag:.+)$/.test(s), 'experiment.sticky is "client", "header:<name>" or "tag:<key>"')),
})

export const CustomSchema = v.strictObject({
  url: v.optional(v.pipe(v.string(), v.url('custom.url must be an absolute URL'), v.check((s) => /^https?:\/\//.test(s), 'custom.url must be http(s)'))),
  binding: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'custom.binding names a service binding'))),
  function: v.optional(v.string()),
  headers: v.optional(v.record(v.string(), v.string())),
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000, 'custom.timeoutMs must be ≤ 10000')), 50),
  fallback: v.optional(strategy('custom.fallback'), 'weighted'),
})

/** Whole-config checks of a pool's experiment and custom strategy. */
export function poolPolicyProblems(name: string, pool: { strategy: StrategyName; experiment?: ExperimentConfig; custom?: v.InferOutput<typeof CustomSchema> }, poolNames: Set<string>): string[] {
  const problems: string[] = []
  const where = `pools.${name}`
  const c = pool.custom
  if (c) {
    const ways = [c.url, c.binding, c.function].filter((x) => x !== undefined).length
    if (ways !== 1) problems.push(`${where}.custom: give exactly one of url, binding, function`)
    if (c.fallback === 'custom') problems.push(`${where}.custom.fallback: must be another strategy than custom`)
  }
  const usesCustom = pool.strategy === 'custom' || pool.experiment?.arms.some((a) => a.strategy === 'custom')
  if (usesCustom && !c) problems.push(`${where}.custom: the custom strategy needs a custom section (url, binding or function)`)
  const e = pool.experiment
  if (e) {
    const arms = new Set<string>()
    for (const [i, arm] of e.arms.entries()) {
      if (arms.has(arm.name)) problems.push(`${where}.experiment.arms[${i}].name: duplicate arm "${arm.name}"`)
      arms.add(arm.name)
      if (arm.pool !== undefined && !poolNames.has(arm.pool)) problems.push(`${where}.experiment.arms[${i}].pool: no pool named "${arm.pool}"`)
      if (arm.strategy === undefined && arm.pool === undefined) problems.push(`${where}.experiment.arms[${i}]: an arm sets a strategy or a pool`)
    }
    if (!e.arms.some((a) => a.weight > 0)) problems.push(`${where}.experiment.arms: at least one arm needs a weight > 0`)
  }
  return problems
}

/** Compiles the rules, checking what they name against the pools; problems name the rule. */
export function compileRuleConfig(rules: RuleConfig[], pools: Record<string, PoolConfig>): { rules: CompiledRule[]; problems: string[] } {
  const problems: string[] = []
  const names = new Set<string>()
  for (const [i, rule] of rules.entries()) {
    const where = `rules[${i}] (${rule.name})`
    if (names.has(rule.name)) problems.push(`${where}: duplicate rule name`)
    names.add(rule.name)
    const then = rule.then
    const actions = [then.pool ?? then.deployments ?? then.strategy, then.reject].filter((x) => x !== undefined)
    if (actions.length === 0) problems.push(`${where}.then: give pool, deployments, strategy or reject`)
    if (then.reject && (then.pool || then.deployments || then.strategy)) problems.push(`${where}.then: reject stands alone`)
    if (then.pool !== undefined && !Object.hasOwn(pools, then.pool)) problems.push(`${where}.then.pool: no pool named "${then.pool}"`)
    if (then.deployments) {
      const ids = new Set(Object.values(pools).flatMap((p) => p.deployments.map((d) => d.id)))
      for (const id of then.deployments) if (!ids.has(id)) problems.push(`${where}.then.deployments: no deployment "${id}"`)
    }
    if (then.strategy === 'custom') problems.push(`${where}.then.strategy: custom is set per pool (custom.url, binding or function), not by a rule`)
  }
  const compiled: CompiledRule[] = []
  for (const [i, rule] of rules.entries()) {
    try {
      compiled.push(...compileRules([rule]))
    } catch (e) {
      problems.push(`rules[${i}] (${rule.name}).when: ${e instanceof Error ? e.message : String(e)}`) // a regular expression that does not compile
    }
  }
  return { rules: compiled, problems }
}

export type { CustomStrategyConfig }

const TemplateRef = v.optional(v.pipe(v.string(), v.nonEmpty()))
const PromptText = { prepend: v.optional(v.string()), append: v.optional(v.string()), template: TemplateRef }
export const PromptSchema = v.strictObject({ ...PromptText, byFamily: v.optional(v.record(v.string(), v.strictObject(PromptText))) })
export const GuardrailPolicySchema = v.strictObject({
  identifier: v.pipe(v.string(), v.regex(/^[A-Za-z0-9:/._-]{1,2048}$/, 'guardrail.identifier is a guardrail id or ARN')),
  version: v.pipe(v.string(), v.regex(/^([1-9][0-9]{0,7}|DRAFT)$/, 'guardrail.version is a number or DRAFT')),
  trace: v.optional(v.picklist(['enabled', 'disabled', 'enabled_full'])),
  streamProcessingMode: v.optional(v.picklist(['sync', 'async'])),
  enforce: v.optional(v.boolean()),
})
export const TemplatesSchema = v.record(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'template names may use letters, digits and . _ : -')), v.record(v.string(), v.string()), 'templates: name → {family: text}')

type RawPrompt = v.InferOutput<typeof PromptSchema>

/** A prompt policy with its template names resolved to their texts; problems name where. */
export function resolvePrompt(raw: RawPrompt | undefined, templates: Record<string, Record<string, string>>, where: string, problems: string[]): PromptPolicy | undefined {
  if (!raw) return undefined
  const resolve = (name: string | undefined, at: string): ResolvedTemplate | undefined => {
    if (name === undefined) return undefined
    if (!Object.hasOwn(templates, name)) {
      problems.push(`${at}.template: no template named "${name}"`)
      return undefined
    }
    return { name, texts: templates[name] }
  }
  const { byFamily, template, ...rest } = raw
  return {
    ...rest,
    ...(template !== undefined ? { template: resolve(template, where) } : {}),
    ...(byFamily ? { byFamily: Object.fromEntries(Object.entries(byFamily).map(([family, p]) => [family, { ...p, template: resolve(p.template, `${where}.byFamily.${family}`) }])) } : {}),
  }
}

export const CascadeSchema = v.strictObject({
  tiers: v.pipe(v.array(v.string()), v.minLength(1, 'cascade.tiers must name at least one smaller pool')),
  checks: v.optional(v.array(v.picklist(['truncated', 'empty', 'refusal', 'json', 'unknown-tool', 'schema'] as const, 'cascade.checks may list truncated, empty, refusal, json, unknown-tool, schema')), ['truncated', 'empty', 'refusal', 'unknown-tool', 'schema']),
  stream: v.optional(v.picklist(['hold', 'optimistic'] as const, 'cascade.stream is hold or optimistic'), 'hold'),
  judge: v.optional(
    v.strictObject({
      pool: v.pipe(v.string('cascade.judge.pool must name a pool'), v.nonEmpty('cascade.judge.pool must name a pool')),
      threshold: v.optional(v.pipe(v.number('cascade.judge.threshold must be a number'), v.minValue(0), v.maxValue(1, 'cascade.judge.threshold must be between 0 and 1')), 0.6),
      prompt: v.optional(v.pipe(v.string('cascade.judge.prompt must be a string'), v.nonEmpty(), v.maxLength(8000, 'cascade.judge.prompt must be at most 8000 characters'))),
      maxTokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000, 'cascade.judge.maxTokens must be ≤ 1000')), 16),
    }),
  ),
  check: v.optional(
    v.pipe(
      v.strictObject({
        url: CustomSchema.entries.url,
        binding: CustomSchema.entries.binding,
        function: CustomSchema.entries.function,
        headers: CustomSchema.entries.headers,
        timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60_000, 'cascade.check.timeoutMs must be ≤ 60000')), 2000),
      }),
      v.check((c) => [c.url, c.binding, c.function].filter((x) => x !== undefined).length === 1, 'cascade.check: give exactly one of url, binding, function'),
    ),
  ),
})

export function cascadeProblems(name: string, cascade: v.InferOutput<typeof CascadeSchema> | undefined, pools: Record<string, { cascade?: unknown }>): string[] {
  if (!cascade) return []
  const problems: string[] = []
  for (const [i, tier] of cascade.tiers.entries()) {
    if (tier === name) problems.push(`pools.${name}.cascade.tiers[${i}]: the pool itself is the last tier; list only smaller pools`)
    else if (!Object.hasOwn(pools, tier)) problems.push(`pools.${name}.cascade.tiers[${i}]: no pool named "${tier}"`)
    else if (pools[tier].cascade) problems.push(`pools.${name}.cascade.tiers[${i}]: "${tier}" has a cascade of its own (cascades do not nest)`)
  }
  const judge = cascade.judge?.pool
  if (judge !== undefined) {
    if (judge === name) problems.push(`pools.${name}.cascade.judge.pool: a pool cannot judge its own cascade; name a (small) pool of its own`)
    else if (!Object.hasOwn(pools, judge)) problems.push(`pools.${name}.cascade.judge.pool: no pool named "${judge}"`)
    else if (pools[judge].cascade) problems.push(`pools.${name}.cascade.judge.pool: "${judge}" has a cascade of its own`)
  }
  return problems
}
