/**
 * Cascade routing: a pool whose smaller tiers (`cascade.tiers`, other pools, smallest first) are tried before its own
 * deployments; a request escalates only when a tier's answer fails the structural checks — truncated
 * (`stopReason: max_tokens`), empty, a refusal (guardrail intervention, content filter, or a refusal sentence),
 * not JSON when the pool asks for JSON, a call to a tool the request did not offer. Each tier is a normal pool (its
 * own strategy, failover and limits); a tier that cannot serve at all is skipped. The pool's own answer, the last
 * tier, is returned unchecked. Converse: invisible except `x-router-cascade` (`tier haiku passed`, `escalated:
 * haiku=truncated`). Streams: with `stream: 'hold'` a tier's stream is read whole and checked before anything is sent
 * (the first byte waits for the tier's whole answer), then replayed frame by frame; `optimistic` streams the first
 * tier as it comes, unchecked. Every tier's answer is accounted as its own request (its tokens were spent).
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
import { featuresOf } from './features'
import type { PolicyContext } from './route'

/** What a Converse answer said, for the checks. */
export interface AnswerView {
  stopReason?: string
  text: string
  toolNames: string[]
}

const REFUSAL = /^\s*(I'?m sorry,? but I (can'?t|cannot|won'?t)|I (can'?t|cannot|won'?t) (help|assist|comply|provide)|I am unable to|I'?m unable to|I must decline)/i

/** Why an answer fails the checks, or undefined when it passes. */
export function answerProblem(answer: AnswerView, checks: readonly CascadeCheck[], offeredTools: readonly string[]): string | undefined {
  const on = (c: CascadeCheck) => checks.includes(c)
  if (on('truncated') && answer.stopReason === 'max_tokens') return 'truncated'
  if (on('refusal') && (answer.stopReason === 'guardrail_intervened' || answer.stopReason === 'content_filtered' || REFUSAL.test(answer.text))) return 'refusal'
  if (on('empty') && answer.text.trim() === '' && answer.toolNames.length === 0) return 'empty'
  if (on('unknown-tool')) {
    const unknown = answer.toolNames.find((n) => !offeredTools.includes(n))
    if (unknown) return `unknown tool ${unknown}`
  }
  if (on('json') && answer.toolNames.length === 0 && !isJson(answer.text)) return 'not JSON'
  return undefined
}

function isJson(text: string): boolean {
  const t = text.trim().replace(/^```(?:json)?\s*/i, '').replace(/\s*```$/, '')
  try {
    JSON.parse(t)
    return true
  } catch {
    return false
  }
}

/** A Converse response body's view. */
export function viewOfBody(body: string): AnswerView {
  const json = jsonObject(body)
  const content = (json?.output?.message?.content ?? []) as Array<Record<string, any>>
  return { stopReason: json?.stopReason, text: content.map((b) => (typeof b.text === 'string' ? b.text : '')).join(''), toolNames: content.flatMap((b) => (b.toolUse?.name ? [b.toolUse.name as string] : [])) }
}

/** A ConverseStream's view, from its frames. */
export function viewOfFrames(frames: readonly Frame[]): AnswerView {
  let text = ''
  let stopReason: string | undefined
  const toolNames: string[] = []
  for (const f of frames) {
    if (f.eventType === 'contentBlockDelta') text += frameJson(f)?.delta?.text ?? ''
    else if (f.eventType === 'contentBlockStart') {
      const name = frameJson(f)?.start?.toolUse?.name
      if (typeof name === 'string') toolNames.push(name)
    } else if (f.eventType === 'messageStop') stopReason = frameJson(f)?.stopReason
  }
  return { stopReason, text, toolNames }
}

function offeredTools(body: Record<string, unknown>): string[] {
  const tools = ((body.toolConfig as { tools?: Array<{ toolSpec?: { name?: string } }> } | undefined)?.tools ?? [])
  return tools.flatMap((t) => (t.toolSpec?.name ? [t.toolSpec.name] : []))
}

export async function withCascade(request: EngineRequest, ctx: PolicyContext, run: (request: EngineRequest) => Promise<Outcome>): Promise<Outcome> {
  const { pool, operation } = request
  const cascade = pool.cascade
  if (!cascade || (operation !== 'converse' && operation !== 'converse-stream')) return run(request)
  const origin = request.origin ?? originDeployment(pool, request.requestedModel)
  const tools = offeredTools(request.body)
  const escalations: string[] = []
  const streaming = operation === 'converse-stream'
  for (const [i, name] of cascade.tiers.entries()) {
    const tier = ctx.config.pools[name]
    const policy: PolicyTrace = { ...request.policy }
    const outcome = await run({ ...request, pool: tier, origin, policy })
    if (outcome.kind === 'served') {
      const view = viewOfBody(outcome.body)
      const why = answerProblem(view, cascade.checks, tools) ?? (await customCheck(cascade, name, request, view, ctx))
      if (!why) {
        policy.cascade = `tier ${name} passed${escalations.length ? ` (after ${escalations.join('; ')})` : ''}`
        return outcome
      }
      escalations.push(`${name}=${why}`)
      escalated(outcome, policy, why)
      continue
    }
    if (outcome.kind === 'streaming' && streaming) {
      if (cascade.stream === 'optimistic' && i === 0) {
        policy.cascade = `tier ${name} streamed optimistically (unchecked)`
        return outcome
      }
      // Checked as soon as the tier's stream ends cleanly, before the engine accounts it: the note says how it went.
      let why: string | undefined = 'stream failed'
      const held = await hold(outcome, (frames) => {
        why = answerProblem(viewOfFrames(frames), cascade.checks, tools)
        if (why) policy.cascade = `escalated: ${why}`
      })
      if (!held.clean) why = 'stream failed'
      // Your own check runs after the stream was accounted: an escalation it decides shows in the trace, not in the tier's stats.
      why ??= await customCheck(cascade, name, request, viewOfFrames(held.frames), ctx)
      if (!why) {
        policy.cascade = `tier ${name} passed${escalations.length ? ` (after ${escalations.join('; ')})` : ''}; held until checked`
        return replayHeld(outcome, held.frames)
      }
      escalations.push(`${name}=${why}`)
      continue
    }
    if (outcome.kind === 'cancelled') return outcome
    const why = outcome.kind === 'rejected' ? `${outcome.status}` : outcome.kind
    escalations.push(`${name}=${why}`) // a tier that cannot serve is skipped
    escalated(outcome, policy, why)
  }
  return run({ ...request, policy: { ...request.policy, cascade: `escalated: ${escalations.join('; ')}` } })
}

/**
 * The pool's own check (`cascade.check`), after the structural ones pass: POSTed `{pool, tier, request: {systemPrompt,
 * lastUserMessage}, answer: {text, stopReason, toolNames}}`, answering `{pass, reason?}`. Late, failing or unreadable
 * checks let the answer stand (the check fails open: a broken checker must not send everything to the top tier).
 */
async function customCheck(cascade: NonNullable<EngineRequest['pool']['cascade']>, tier: string, request: EngineRequest, answer: AnswerView, ctx: PolicyContext): Promise<string | undefined> {
  if (!cascade.check) return undefined
  const features = featuresOf(request, ctx.header)
  try {
    const verdict = (await callCustomLogic(cascade.check, { pool: request.pool.name, tier, request: { systemPrompt: features.systemPrompt, lastUserMessage: features.lastUserMessage }, answer }, ctx.env, ctx.strategies)) as { pass?: unknown; reason?: unknown }
    if (verdict && verdict.pass === false) return `check: ${typeof verdict.reason === 'string' ? verdict.reason.slice(0, 200) : 'failed'}`
  } catch {
    // fails open
  }
  return undefined
}

/**
 * A tier's answer the client will not see is still accounted, as its own request (its tokens were spent), marked
 * escalated: the front door never renders it, so its trace is logged here.
 */
function escalated(outcome: Outcome, policy: PolicyTrace, why: string) {
  policy.cascade = `escalated: ${why}`
  outcome.trace.log()
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

/** The held frames as the outcome's stream, through whichever renderer the front door brings. */
function replayHeld(outcome: Streaming, frames: readonly Frame[]): Outcome {
  const metadata = frames.find((f) => f.eventType === 'metadata')
  const usage = metadata ? usageOf(frameJson(metadata)?.usage) : undefined
  return { ...outcome, events: replayedEvents(frames, { usage, costUsd: outcome.trace.costUsd }) }
}
