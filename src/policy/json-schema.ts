/**
 * The part of JSON Schema a cascade's `schema` check needs to tell a small model's structured answer from a broken
 * one: `type` (one or a list), `enum`, `const`, `required`, `properties`, `additionalProperties: false`, `items`,
 * `minItems`/`maxItems`, `minLength`/`maxLength`, `minimum`/`maximum`, `anyOf`/`oneOf` (as any of). Anything else in
 * a schema is ignored (so an answer is never failed for a keyword this does not know). Iterative over the value,
 * bounded depth: a request's schema or an answer nested past MAX_DEPTH is not judged.
 */

const MAX_DEPTH = 64

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function typeOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number'
  return typeof value
}

function typeMatches(value: unknown, type: unknown): boolean {
  const types = Array.isArray(type) ? type : [type]
  const actual = typeOf(value)
  return types.some((t) => t === actual || (t === 'number' && actual === 'integer'))
}

/** The first way `value` breaks `schema`, as `path: what`, or undefined when it conforms (or cannot be judged). */
export function schemaProblem(value: unknown, schema: unknown, path = '$', depth = 0): string | undefined {
  if (!isObject(schema) || depth > MAX_DEPTH) return undefined
  if (schema.type !== undefined && !typeMatches(value, schema.type)) return `${path}: expected ${Array.isArray(schema.type) ? schema.type.join(' or ') : String(schema.type)}, got ${typeOf(value)}`
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) return `${path}: not one of the allowed values`
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) return `${path}: not the required value`
  const alternatives = Array.isArray(schema.anyOf) ? schema.anyOf : Array.isArray(schema.oneOf) ? schema.oneOf : undefined
  if (alternatives && !alternatives.some((s) => schemaProblem(value, s, path, depth + 1) === undefined)) return `${path}: matches none of the alternatives`
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) return `${path}: shorter than ${schema.minLength}`
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) return `${path}: longer than ${schema.maxLength}`
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return `${path}: below ${schema.minimum}`
    if (typeof schema.maximum === 'number' && value > schema.maximum) return `${path}: above ${schema.maximum}`
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${path}: fewer than ${schema.minItems} items`
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${path}: more than ${schema.maxItems} items`
    if (isObject(schema.items)) {
      for (let i = 0; i < value.length; i++) {
        const problem = schemaProblem(value[i], schema.items, `${path}[${i}]`, depth + 1)
        if (problem) return problem
      }
    }
  }
  if (isObject(value)) {
    if (Array.isArray(schema.required)) {
      for (const key of schema.required) if (typeof key === 'string' && !Object.hasOwn(value, key)) return `${path}.${key}: missing`
    }
    const properties = isObject(schema.properties) ? schema.properties : {}
    for (const [key, child] of Object.entries(value)) {
      if (Object.hasOwn(properties, key)) {
        const problem = schemaProblem(child, properties[key], `${path}.${key}`, depth + 1)
        if (problem) return problem
      } else if (schema.additionalProperties === false) return `${path}.${key}: not allowed`
    }
  }
  return undefined
}
