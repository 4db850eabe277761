/**
 * Routing rules, pure: ordered, first match wins. A condition is a feature test, or `all` / `any` / `not` of
 * conditions; an object with several feature keys needs all of them. Regular expressions are compiled once, when the
 * config is loaded (a bad one is a config error naming the rule).
 */
import type { CompiledRule, Condition, FeatureCondition, Match, Range, RequestFeatures, RuleConfig } from './types'

type Test = (f: RequestFeatures) => boolean

export function compileRules(rules: readonly RuleConfig[]): CompiledRule[] {
  return rules.map((rule) => ({ ...rule, test: compileCondition(rule.when) }))
}

/** The first rule whose condition holds, if any. */
export function firstMatch(rules: readonly CompiledRule[], features: RequestFeatures): CompiledRule | undefined {
  return rules.find((r) => r.test(features))
}

export function compileCondition(c: Condition): Test {
  if ('all' in c) {
    const parts = c.all.map(compileCondition)
    return (f) => parts.every((t) => t(f))
  }
  if ('any' in c) {
    const parts = c.any.map(compileCondition)
    return (f) => parts.some((t) => t(f))
  }
  if ('not' in c) {
    const inner = compileCondition(c.not)
    return (f) => !inner(f)
  }
  return compileFeatures(c)
}

function compileFeatures(c: FeatureCondition): Test {
  const tests: Test[] = []
  const str = (m: Match | undefined, get: (f: RequestFeatures) => string | undefined) => {
    if (m === undefined) return
    const t = compileMatch(m)
    tests.push((f) => t(get(f)))
  }
  str(c.pool, (f) => f.pool)
  str(c.model, (f) => f.model)
  str(c.client, (f) => f.client)
  str(c.team, (f) => f.team)
  str(c.systemPrompt, (f) => f.systemPrompt)
  str(c.lastUserMessage, (f) => f.lastUserMessage)
  if (c.frontDoor !== undefined) {
    const doors = Array.isArray(c.frontDoor) ? c.frontDoor : [c.frontDoor]
    tests.push((f) => f.frontDoor !== undefined && doors.includes(f.frontDoor))
  }
  if (c.credential !== undefined) tests.push((f) => f.credential === c.credential)
  for (const key of ['hasTools', 'hasImages', 'hasDocuments'] as const) {
    const want = c[key]
    if (want !== undefined) tests.push((f) => f[key] === want)
  }
  if (c.inputTokens) {
    const inRange = compileRange(c.inputTokens)
    tests.push((f) => inRange(f.inputTokens))
  }
  if (c.maxTokens) {
    const inRange = compileRange(c.maxTokens)
    tests.push((f) => f.maxTokens !== undefined && inRange(f.maxTokens))
  }
  for (const [name, m] of Object.entries(c.tag ?? {})) {
    const t = compileMatch(m)
    tests.push((f) => t(Object.hasOwn(f.tags, name) ? f.tags[name] : undefined))
  }
  for (const [name, m] of Object.entries(c.header ?? {})) {
    const t = compileMatch(m)
    const lower = name.toLowerCase()
    tests.push((f) => t(f.header(lower)))
  }
  return (f) => tests.every((t) => t(f))
}

/** Throws SyntaxError for a bad regular expression (the schema turns it into a config problem). */
export function compileMatch(m: Match): (value: string | undefined) => boolean {
  if (typeof m === 'string') return (v) => v === m
  if ('in' in m) {
    const set = new Set(m.in)
    return (v) => v !== undefined && set.has(v)
  }
  const re = new RegExp(m.matches, (m.flags ?? '').replace(/[gy]/g, ''))
  return (v) => v !== undefined && re.test(v)
}

function compileRange(r: Range): (n: number) => boolean {
  return (n) => (r.gt === undefined || n > r.gt) && (r.gte === undefined || n >= r.gte) && (r.lt === undefined || n < r.lt) && (r.lte === undefined || n <= r.lte)
}
