/**
 * ApplyGuardrail `POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply`, with guardrails that
 * have a word policy only. A guardrail blocks its custom words (default `BLOCKME`) wherever they appear as whole
 * words, case-insensitively, in a guarded text block (a block whose qualifiers are only `grounding_source` /
 * `query` is reference material, not guarded). Which guardrails exist: `SimConfig.guardrails`, or every
 * well-formed identifier and version when that is unset.
 */
import { awsError, type AwsError } from './errors'
import type { GuardrailConfig } from './types'

export const DEFAULT_BLOCKED_WORDS = ['BLOCKME']
export const DEFAULT_BLOCKED_MESSAGE = 'Sorry, the model cannot answer this question.'

/** Bedrock's patterns for the two path labels. */
const ID_PATTERN = /^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]+))$/
const VERSION_PATTERN = /^(([1-9][0-9]{0,7})|(DRAFT))$/

const validation = (message: string) => awsError(400, 'ValidationException', message)
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function checkGuardrailPath(identifier: string | undefined, version: string | undefined): AwsError | undefined {
  if (identifier === undefined || !ID_PATTERN.test(identifier)) {
    return validation(
      `1 validation error detected: Value '${identifier ?? ''}' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ${ID_PATTERN.source}`,
    )
  }
  if (version === undefined || !VERSION_PATTERN.test(version)) {
    return validation(
      `1 validation error detected: Value '${version ?? ''}' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ${VERSION_PATTERN.source}`,
    )
  }
  return undefined
}

/** The configured guardrail an identifier (ID or ARN) and version name, or undefined (→ 404). */
export function findGuardrail(configured: GuardrailConfig[] | undefined, identifier: string, version: string): GuardrailConfig | undefined {
  const id = identifier.slice(identifier.lastIndexOf('/') + 1)
  if (configured === undefined) return { id }
  const g = configured.find((c) => c.id === id)
  return g && (g.versions === undefined || g.versions.includes(version)) ? g : undefined
}

/**
 * 404 ResourceNotFoundException (a modeled ApplyGuardrail error) with the message Bedrock uses for a guardrail it
 * cannot find. Guardrails attached to Converse / InvokeModel have been seen failing with 400 ValidationException
 * and this same message; what ApplyGuardrail itself returns is not confirmed by a capture.
 */
export const unknownGuardrail = (): AwsError =>
  awsError(404, 'ResourceNotFoundException', 'The guardrail identifier or version provided in the request does not exist.')

interface TextBlock {
  text: string
  qualifiers?: string[]
}

export interface ApplyGuardrailBody {
  source: 'INPUT' | 'OUTPUT'
  texts: TextBlock[]
  images: number
}

export type ParsedGuardrail = { ok: true; body: ApplyGuardrailBody } | { ok: false; error: AwsError }

const notNull = (field: string): ParsedGuardrail => ({
  ok: false,
  error: validation(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`),
})

export function parseApplyGuardrail(text: string): ParsedGuardrail {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: validation('Malformed input request, please reformat your input and try again.') }
  }
  if (!isObject(json)) return notNull('source')
  const { source, content, outputScope } = json
  if (source === undefined || source === null) return notNull('source')
  if (source !== 'INPUT' && source !== 'OUTPUT') {
    return {
      ok: false,
      error: validation(`1 validation error detected: Value '${String(source)}' at 'source' failed to satisfy constraint: Member must satisfy enum value set: [INPUT, OUTPUT]`),
    }
  }
  if (content === undefined || content === null) return notNull('content')
  if (outputScope !== undefined && outputScope !== 'INTERVENTIONS' && outputScope !== 'FULL') {
    return {
      ok: false,
      error: validation(
        `1 validation error detected: Value '${String(outputScope)}' at 'outputScope' failed to satisfy constraint: Member must satisfy enum value set: [INTERVENTIONS, FULL]`,
      ),
    }
  }
  if (!Array.isArray(content)) return { ok: false, error: validation('Malformed input request: content must be an array, please reformat your input and try again.') }
  const texts: TextBlock[] = []
  let images = 0
  for (const [i, block] of content.entries()) {
    const keys = isObject(block) ? Object.keys(block) : []
    if (!isObject(block) || keys.length !== 1) {
      return { ok: false, error: validation(`Malformed input request: content[${i}] must have exactly one of [text, image], please reformat your input and try again.`) }
    }
    if (isObject(block.text) && typeof block.text.text === 'string') {
      const q = block.text.qualifiers
      if (q !== undefined && !(Array.isArray(q) && q.every((x) => x === 'grounding_source' || x === 'query' || x === 'guard_content'))) {
        return {
          ok: false,
          error: validation(`1 validation error detected: Value at 'content.${i + 1}.member.text.qualifiers' failed to satisfy constraint: Member must satisfy enum value set: [grounding_source, query, guard_content]`),
        }
      }
      texts.push({ text: block.text.text, qualifiers: q as string[] | undefined })
    } else if (isObject(block.image)) {
      images++
    } else {
      return { ok: false, error: validation(`Malformed input request: content[${i}].text.text must be a string, please reformat your input and try again.`) }
    }
  }
  return { ok: true, body: { source, texts, images } }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A text block is guarded unless its qualifiers mark it as grounding source or query only. */
const guarded = (b: TextBlock) => !b.qualifiers?.length || b.qualifiers.includes('guard_content')

/** The ApplyGuardrail response for `body` under guardrail `g`. */
export function applyGuardrail(g: GuardrailConfig, body: ApplyGuardrailBody, latencyMs: number) {
  const words = g.blockedWords ?? DEFAULT_BLOCKED_WORDS
  const checked = body.texts.filter(guarded)
  const total = body.texts.reduce((n, b) => n + b.text.length, 0)
  const guardedChars = checked.reduce((n, b) => n + b.text.length, 0)
  const found = words.filter((w) => w && checked.some((b) => new RegExp(`(?<![\\p{L}\\p{N}_])${escape(w)}(?![\\p{L}\\p{N}_])`, 'iu').test(b.text)))
  const intervened = found.length > 0
  const usage = {
    topicPolicyUnits: 0,
    contentPolicyUnits: 0,
    // One text unit per 1,000 characters guarded, for the one policy these guardrails have.
    wordPolicyUnits: Math.ceil(guardedChars / 1000),
    sensitiveInformationPolicyUnits: 0,
    sensitiveInformationPolicyFreeUnits: 0,
    contextualGroundingPolicyUnits: 0,
    contentPolicyImageUnits: 0,
  }
  const coverage = {
    textCharacters: { guarded: guardedChars, total },
    ...(body.images ? { images: { guarded: 0, total: body.images } } : {}),
  }
  const message =
    body.source === 'INPUT' ? (g.blockedInputMessaging ?? DEFAULT_BLOCKED_MESSAGE) : (g.blockedOutputsMessaging ?? DEFAULT_BLOCKED_MESSAGE)
  return {
    usage,
    action: intervened ? 'GUARDRAIL_INTERVENED' : 'NONE',
    actionReason: intervened ? 'Guardrail blocked.' : 'No action.',
    outputs: intervened ? [{ text: message }] : [],
    assessments: [
      {
        ...(intervened
          ? { wordPolicy: { customWords: found.map((match) => ({ match, action: 'BLOCKED', detected: true })), managedWordLists: [] } }
          : {}),
        invocationMetrics: { guardrailProcessingLatency: latencyMs, usage, guardrailCoverage: coverage },
      },
    ],
    guardrailCoverage: coverage,
  }
}
