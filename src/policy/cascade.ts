/**
 * Cascade routing: a pool whose smaller tiers (`cascade.tiers`, other pools, smallest first) are tried before its own
 * deployments; a request escalates only when a tier's answer fails the structural checks — truncated
 * (`stopReason: max_tokens`), empty, a refusal (guardrail intervention, content filter, or a refusal sentence),
 * not JSON when the pool asks for JSON, a call to a tool the request did not offer, an answer that breaks the schema
 * the request asked for (a forced tool not called, a tool call's input off its schema, text off
 * `outputConfig.textFormat`'s JSON schema). Each tier is a normal pool (its
 * own strategy, failover and limits); a tier that cannot serve at all is skipped. The pool's own answer, the last
 * tier, is returned unchecked. Converse: invisible except `x-router-cascade` (`tier haiku passed`, `escalated:
 * haiku=truncated`). Streams: with `stream: 'hold'` a tier's stream is read whole and checked before anything is sent
 * (the first byte waits for the tier's whole answer), then replayed frame by frame; `optimistic` streams the first
 * tier as it comes, unchecked. After the structural checks, a judge (`cascade.judge`: a small model's pool, asked with
 * JUDGE_PROMPT or the pool's own to score the answer 0–1) escalates below its threshold, then your own check
 * (`cascade.check`); both fail open. Every tier's answer, and every judge's, is accounted as its own request (its
 * tokens were spent); the answer the client gets also carries what the top tier would have cost for it and what the
 * whole cascade spent on it, so /stats can say what the cascade saved.
 */
import type { CascadeCheck } from '../config/types'
import type { Frame } from '../wire/eventstream'
import { replayedEvents } from '../engine/converse-stream'
import type { Streaming } from '../engine/outcome'
import { originDeployment } from '../engine/engine'
import type { EngineRequest, Outcome, PolicyTrace } from '../engine/outcome'
import { usageOf } from '../engine/attempt'
import { jsonObject } from '../wire/base64'
import { frameJson } from '../wire/invoke-chunk'
import { callCustomLogic } from './custom'
import { schemaProblem } from './json-schema'
import { costUsd } from '../routing/cost'
import type { TokenUsage } from '../routing/types'
import { featuresOf } from './features'
import type { RequestFeatures } from './types'
import type { PolicyContext } from './route'

/** What a Converse answer said, for the checks. */
export interface AnswerView {
  stopReason?: string
  text: string
  toolNames: string[]
  /** Each tool call's input (undefined when a streamed input did not parse). */
  toolInputs?: Array<{ name: string; input: unknown }>
}

/** What the request asked of the answer's shape: the tools it offered (with their input schemas), a forced tool, a JSON schema for the text. */
export interface AskedShape {
  tools: ReadonlyMap<string, unknown>
  forced?: string
  textSchema?: unknown
}

const REFUSAL = /^\s*(I'?m sorry,? but I (can'?t|cannot|won'?t)|I (can'?t|cannot|won'?t) (help|assist|comply|provide)|I am unable to|I'?m unable to|I must decline)/i

/**
 * Why a tier's answer escalates: `reason`, the kind (what /stats counts escalations by: truncated, refusal, empty,
 * unknown tool, not JSON, schema, judge, check, stream failed, could not serve), and `why`, the trace's words.
 */
export interface Problem {
  reason: string
  why: string
}

const problem = (reason: string, why = reason): Problem => ({ reason, why })

/** Why an answer fails the checks, or undefined when it passes (the trace's words). */
export function answerProblem(answer: AnswerView, checks: readonly CascadeCheck[], asked: AskedShape): string | undefined {
  return structuralProblem(answer, checks, asked)?.why
}

function structuralProblem(answer: AnswerView, checks: readonly CascadeCheck[], asked: AskedShape): Problem | undefined {
  const on = (c: CascadeCheck) => checks.includes(c)
  if (on('truncated') && answer.stopReason === 'max_tokens') return problem('truncated')
  if (on('refusal') && (answer.stopReason === 'guardrail_intervened' || answer.stopReason === 'content_filtered' || REFUSAL.test(answer.text))) return problem('refusal')
  if (on('empty') && answer.text.trim() === '' && answer.toolNames.length === 0) return problem('empty')
  if (on('unknown-tool')) {
    const unknown = answer.toolNames.find((n) => !asked.tools.has(n))
    if (unknown) return problem('unknown tool', `unknown tool ${unknown}`)
  }
  if (on('json') && answer.toolNames.length === 0 && parsedJson(answer.text) === NOT_JSON) return problem('not JSON')
  if (on('schema')) {
    // A forced tool must be called; every call must match its tool's input schema; a text schema, the text.
    if (asked.forced && !answer.toolNames.includes(asked.forced)) return problem('schema', `schema: no call to ${asked.forced}`)
    for (const call of answer.toolInputs ?? []) {
      if (!asked.tools.has(call.name)) continue
      const broken = call.input === undefined ? `${call.name} input is not JSON` : schemaProblem(call.input, asked.tools.get(call.name))
      if (broken) return problem('schema', `schema: ${broken}`)
    }
    if (asked.textSchema !== undefined && answer.toolNames.length === 0) {
      const value = parsedJson(answer.text)
      if (value === NOT_JSON) return problem('not JSON')
      const broken = schemaProblem(value, asked.textSchema)
      if (broken) return problem('schema', `schema: ${broken}`)
    }
  }
  return undefined
}

const NOT_JSON = Symbol('not JSON')

/** The answer text as JSON (a ```json fence allowed), or NOT_JSON. */
function parsedJson(text: string): unknown {
  const t = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '')
  try {
    return JSON.parse(t)
  } catch {
    return NOT_JSON
  }
}

/** A Converse response body's view. */
export function viewOfBody(body: string): AnswerView {
  const json = jsonObject(body)
  const content = (json?.output?.message?.content ?? []) as Array<Record<string, any>>
  const calls = content.flatMap((b) => (typeof b.toolUse?.name === 'string' ? [{ name: b.toolUse.name as string, input: b.toolUse.input as unknown }] : []))
  return { stopReason: json?.stopReason, text: content.map((b) => (typeof b.text === 'string' ? b.text : '')).join(''), toolNames: calls.map((c) => c.name), toolInputs: calls }
}

/** A ConverseStream's view, from its frames (a tool call's input is the JSON its deltas spell). */
export function viewOfFrames(frames: readonly Frame[]): AnswerView {
  let text = ''
  let stopReason: string | undefined
  const calls = new Map<number, { name: string; json: string }>()
  for (const f of frames) {
    if (f.eventType === 'contentBlockDelta') {
      const e = frameJson(f)
      text += e?.delta?.text ?? ''
      const call = calls.get(e?.contentBlockIndex)
      if (call && typeof e?.delta?.toolUse?.input === 'string') call.json += e.delta.toolUse.input
    } else if (f.eventType === 'contentBlockStart') {
      const e = frameJson(f)
      const name = e?.start?.toolUse?.name
      if (typeof name === 'string') calls.set(e?.contentBlockIndex, { name, json: '' })
    } else if (f.eventType === 'messageStop') stopReason = frameJson(f)?.stopReason
  }
  const toolInputs = [...calls.values()].map((c) => {
    const input = parsedJson(c.json || '{}')
    return { name: c.name, input: input === NOT_JSON ? undefined : input }
  })
  return { stopReason, text, toolNames: toolInputs.map((c) => c.name), toolInputs }
}

/** What the request asked for: its tools' input schemas, a forced tool, `outputConfig.textFormat`'s JSON schema. */
export function askedShape(body: Record<string, unknown>): AskedShape {
  const config = body.toolConfig as { tools?: Array<{ toolSpec?: { name?: string; inputSchema?: { json?: unknown } } }>; toolChoice?: { tool?: { name?: string } } } | undefined
  const tools = new Map<string, unknown>()
  for (const t of config?.tools ?? []) if (typeof t?.toolSpec?.name === 'string') tools.set(t.toolSpec.name, t.toolSpec.inputSchema?.json)
  const forced = config?.toolChoice?.tool?.name
  const structure = (body.outputConfig as { textFormat?: { structure?: { jsonSchema?: { schema?: unknown } } } } | undefined)?.textFormat?.structure?.jsonSchema?.schema
  let textSchema: unknown = structure
  if (typeof structure === 'string') {
    const parsed = parsedJson(structure)
    textSchema = parsed === NOT_JSON ? undefined : parsed
  }
  return { tools, ...(typeof forced === 'string' ? { forced } : {}), ...(textSchema !== undefined ? { textSchema } : {}) }
}

export async function withCascade(request: EngineRequest, ctx: PolicyContext, run: (request: EngineRequest) => Promise<Outcome>): Promise<Outcome> {
  const { pool, operation } = request
  const cascade = pool.cascade
  if (!cascade || (operation !== 'converse' && operation !== 'converse-stream')) return run(request)
  const origin = request.origin ?? originDeployment(pool, request.requestedModel)
  const tools = askedShape(request.body)
  const escalations: string[] = []
  const streaming = operation === 'converse-stream'
  // What this request has cost so far: escalated tiers' answers and the judges' (USD).
  let spent = 0
  // The request's features, read once for every tier's judge and check.
  let features: RequestFeatures | undefined
  const featuresOnce = () => (features ??= featuresOf(request, ctx.header))
  /** After the structural checks: the judge, then your own check. */
  const judgedOrChecked = async (tier: string, view: AnswerView): Promise<Problem | undefined> => {
    const input: CheckInput = { cascade, tier, request, answer: view, features: featuresOnce, ctx }
    const verdict = await judgeCheck(input, run)
    spent += verdict.costUsd
    return verdict.problem ?? (await customCheck(input))
  }
  /** A tier's answer passed: what the top tier would have cost for it, and what earlier tiers spent. */
  const passed = (policy: PolicyTrace, name: string, usage: TokenUsage | undefined, note = '') => {
    policy.cascade = `tier ${name} passed${escalations.length ? ` (after ${escalations.join('; ')})` : ''}${note}`
    const top = usage ? costUsd(origin, usage) : undefined
    if (top !== undefined) policy.cascadeTopTierUsd = top
    policy.cascadeEarlierUsd = spent
  }
  for (const [i, name] of cascade.tiers.entries()) {
    const tier = ctx.config.pools[name]
    const policy: PolicyTrace = { ...request.policy }
    const outcome = await run({ ...request, pool: tier, origin, policy })
    if (outcome.kind === 'served') {
      const view = viewOfBody(outcome.body)
      const failed = structuralProblem(view, cascade.checks, tools) ?? (await judgedOrChecked(name, view))
      if (!failed) {
        passed(policy, name, outcome.usage)
        return outcome
      }
      escalations.push(`${name}=${failed.why}`)
      spent += outcome.costUsd ?? 0
      escalated(outcome, policy, failed)
      continue
    }
    if (outcome.kind === 'streaming' && streaming) {
      if (cascade.stream === 'optimistic' && i === 0) {
        policy.cascade = `tier ${name} streamed optimistically (unchecked)`
        return outcome
      }
      // Checked as soon as the tier's stream ends cleanly, before the engine accounts it: the note says how it went.
      let view: AnswerView | undefined
      let failed: Problem | undefined = problem('stream failed')
      const held = await hold(outcome, (frames) => {
        view = viewOfFrames(frames)
        failed = structuralProblem(view, cascade.checks, tools)
        if (failed) markEscalated(policy, failed)
      })
      if (!held.clean || !view) failed = problem('stream failed')
      // The judge and your own check run after the stream was accounted: an escalation they decide shows in the
      // trace, not in the tier's stats.
      else if (!failed) failed = await judgedOrChecked(name, view)
      if (!failed) {
        const replay = replayHeld(outcome, held.frames)
        passed(policy, name, replay.usage, '; held until checked')
        return replay.outcome
      }
      escalations.push(`${name}=${failed.why}`)
      spent += outcome.trace.costUsd ?? 0
      continue
    }
    if (outcome.kind === 'cancelled') return outcome
    const failed = problem('could not serve', outcome.kind === 'rejected' ? `${outcome.status}` : outcome.kind)
    escalations.push(`${name}=${failed.why}`) // a tier that cannot serve is skipped
    escalated(outcome, policy, failed)
  }
  // The top tier answers: it would have cost what it costs; the cascade spent that plus the tiers before.
  return run({ ...request, policy: { ...request.policy, cascade: `escalated: ${escalations.join('; ')}`, cascadeEarlierUsd: spent } })
}

/** Our judge's instructions (`cascade.judge.prompt` replaces them); the request and answer follow in tags. */
export const JUDGE_PROMPT =
  'You grade answers. The user message holds a request between <request> tags and an answer to it between <answer> tags. ' +
  'Score how fully, specifically and correctly the answer addresses the request: 0 for a useless, vague, evasive or wrong answer, ' +
  '1 for a complete and correct one. Reply with the score only, a number between 0 and 1.'
/** The judge sees at most this much of the request's last user message and of the answer (characters). */
const JUDGE_REQUEST_CHARS = 4000
const JUDGE_ANSWER_CHARS = 8000

/** The first number in a judge's reply as a 0–1 score (a 0–10 or 0–100 scale is read as such); undefined if none. */
export function judgeScore(text: string): number | undefined {
  const m = /(\d+(?:\.\d+)?)/.exec(text)
  if (!m) return undefined
  const x = Number(m[1])
  const score = x <= 1 ? x : x <= 10 ? x / 10 : x <= 100 ? x / 100 : NaN
  return Number.isFinite(score) ? score : undefined
}

/** What the judge and your own check look at: a tier's answer to the request, and the context to ask in. */
interface CheckInput {
  cascade: NonNullable<EngineRequest['pool']['cascade']>
  tier: string
  request: EngineRequest
  answer: AnswerView
  /** The request's features, read once per cascade. */
  features: () => RequestFeatures
  ctx: PolicyContext
}

/**
 * Asks the judge's pool (a normal pool: strategy, failover, limits) to score the answer. Below the threshold →
 * `judge 0.2` (escalate). A judge that cannot answer, or answers no number, lets the answer stand (fails open: a
 * broken judge must not send everything to the top tier). Its answer is accounted as its own request.
 */
async function judgeCheck({ cascade, tier, request, answer, features, ctx }: CheckInput, run: (request: EngineRequest) => Promise<Outcome>): Promise<{ problem?: Problem; costUsd: number }> {
  const judge = cascade.judge
  const pool = judge ? ctx.config.pools[judge.pool] : undefined
  if (!judge || !pool) return { costUsd: 0 }
  const { lastUserMessage } = features()
  const text = `<request>\n${lastUserMessage.slice(0, JUDGE_REQUEST_CHARS)}\n</request>\n<answer>\n${answer.text.slice(0, JUDGE_ANSWER_CHARS)}\n</answer>`
  const policy: PolicyTrace = { cascade: `judge of tier ${tier} for ${request.pool.name}` }
  const outcome = await run({
    pool,
    operation: 'converse',
    requestedModel: judge.pool,
    body: { system: [{ text: judge.prompt ?? JUDGE_PROMPT }], messages: [{ role: 'user', content: [{ text }] }], inferenceConfig: { maxTokens: judge.maxTokens, temperature: 0 } },
    client: request.client,
    identity: request.identity,
    frontDoor: request.frontDoor,
    tags: request.tags,
    signal: request.signal,
    policy,
  })
  if (outcome.kind === 'cancelled') return { costUsd: 0 }
  if (outcome.kind !== 'served') {
    outcome.trace.log()
    return { costUsd: 0 }
  }
  const score = judgeScore(viewOfBody(outcome.body).text)
  policy.cascade += score === undefined ? ': no score, the answer stands' : `: ${score}`
  outcome.trace.log() // the judge's answer reaches no client: accounted here
  return { problem: score !== undefined && score < judge.threshold ? problem('judge', `judge ${score}`) : undefined, costUsd: outcome.costUsd ?? 0 }
}

/**
 * The pool's own check (`cascade.check`), after the structural ones pass: POSTed `{pool, tier, request: {systemPrompt,
 * lastUserMessage}, answer: {text, stopReason, toolNames}}`, answering `{pass, reason?}`. Late, failing or unreadable
 * checks let the answer stand (the check fails open: a broken checker must not send everything to the top tier).
 */
async function customCheck({ cascade, tier, request, answer, features, ctx }: CheckInput): Promise<Problem | undefined> {
  if (!cascade.check) return undefined
  const { systemPrompt, lastUserMessage } = features()
  try {
    const verdict = (await callCustomLogic(cascade.check, { pool: request.pool.name, tier, request: { systemPrompt, lastUserMessage }, answer }, ctx.env, ctx.strategies)) as { pass?: unknown; reason?: unknown }
    if (verdict && verdict.pass === false) return problem('check', `check: ${typeof verdict.reason === 'string' ? verdict.reason.slice(0, 200) : 'failed'}`)
  } catch {
    // fails open
  }
  return undefined
}

/**
 * A tier's answer the client will not see is still accounted, as its own request (its tokens were spent), marked
 * escalated: the front door never renders it, so its trace is logged here.
 */
function escalated(outcome: Outcome, policy: PolicyTrace, failed: Problem) {
  markEscalated(policy, failed)
  outcome.trace.log()
}

/** The tier answer's trace says it escalated, and why (/stats counts it by `reason`). */
function markEscalated(policy: PolicyTrace, failed: Problem) {
  policy.cascade = `escalated: ${failed.why}`
  policy.escalationReason = failed.reason
}

/** Reads a tier's stream to its end without sending anything (the engine settles and accounts it as usual). */
async function hold(outcome: Streaming, ended: (frames: Frame[]) => void): Promise<{ frames: Frame[]; clean: boolean }> {
  const frames: Frame[] = []
  let clean = true
  const none = new Uint8Array(0)
  const stream = outcome.events.render({
    event(frame) {
      frames.push(frame)
      return undefined
    },
    error() {
      clean = false
      return none
    },
    end() {
      ended(frames)
      return undefined
    },
  })
  await new Response(stream).arrayBuffer()
  return { frames, clean }
}

/** The held frames as the outcome's stream, through whichever renderer the front door brings, and their usage. */
function replayHeld(outcome: Streaming, frames: readonly Frame[]): { outcome: Outcome; usage?: TokenUsage } {
  const metadata = frames.find((f) => f.eventType === 'metadata')
  const usage = metadata ? usageOf(frameJson(metadata)?.usage) : undefined
  return { outcome: { ...outcome, events: replayedEvents(frames, { usage, costUsd: outcome.trace.costUsd }) }, usage }
}
