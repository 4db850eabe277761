/**
 * A Converse event stream as OpenAI `chat.completion.chunk` server-sent events, one chunk per Converse event
 * that carries something for the client:
 *
 *   messageStart                    → delta {role: "assistant", content: ""}
 *   contentBlockDelta text          → delta {content}
 *   contentBlockStart toolUse       → delta {tool_calls: [{index, id, type, function: {name, arguments: ""}}]}
 *   contentBlockDelta toolUse input → delta {tool_calls: [{index, function: {arguments}}]}
 *   contentBlockDelta reasoning     → delta {reasoning_content}
 *   messageStop                     → delta {} with finish_reason
 *   metadata                        → with stream_options.include_usage: a chunk with no choices and the usage
 *   clean end                       → data: [DONE]
 *   failure after commit            → data: {"error": {...}} and no [DONE] (the openai client raises it)
 * With `response_format` (a forced tool), the tool's input deltas are the content and text deltas are dropped.
 *
 * The chunk envelope (id, created, model) is the same for every chunk and is encoded once. Text and tool-input
 * deltas — nearly every event of a stream — take a fast path: the JSON string literal in Bedrock's payload is
 * already valid JSON (and holds no raw line break, so it is valid in an SSE data line), so its bytes are copied
 * between the encoded envelope's halves, with no decode, parse, stringify or encode. Payloads of any other shape
 * are parsed.
 */
import type { StreamFailure, StreamRenderer } from '../../engine/converse-stream'
import type { Frame } from '../../wire/eventstream'
import { frameJson } from '../../wire/invoke-chunk'
import { sseAccounting } from '../../wire/sse'
import { errorBody } from './errors'
import { finishReason, usageFrom, type ResponseContext } from './from-converse'

const encoder = new TextEncoder()
const DONE = encoder.encode('data: [DONE]\n\n')

export function chunkRenderer(ctx: ResponseContext & { includeUsage: boolean }): StreamRenderer {
  const head = `data: {"id":${JSON.stringify(ctx.id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"choices":`
  const delta = (d: string, finish: string | null = null) => encoder.encode(`${head}[{"index":0,"delta":${d},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`)
  const contentHead = encoder.encode(`${head}[{"index":0,"delta":{"content":`)
  const contentTail = encoder.encode('},"logprobs":null,"finish_reason":null}]}\n\n')
  const argumentsTail = encoder.encode('}}]},"logprobs":null,"finish_reason":null}]}\n\n')
  const argumentsHeads: Uint8Array[] = []
  const argumentsHead = (index: number) =>
    (argumentsHeads[index] ??= encoder.encode(`${head}[{"index":0,"delta":{"tool_calls":[{"index":${index},"function":{"arguments":`))
  /** Converse content block index → OpenAI tool call index (tool calls count from 0 in the order they start). */
  const toolIndex = new Map<number, number>()
  let jsonBlock: number | undefined

  return {
    event(frame: Frame) {
      switch (frame.eventType) {
        case 'contentBlockDelta': {
          const fast = deltaLiteral(frame.payload)
          if (fast) {
            if (fast.kind === 'text') return ctx.jsonTool ? undefined : join(contentHead, frame.payload, fast.start, fast.end, contentTail)
            if (fast.block === jsonBlock) return join(contentHead, frame.payload, fast.start, fast.end, contentTail)
            const index = toolIndex.get(fast.block)
            return index === undefined ? undefined : join(argumentsHead(index), frame.payload, fast.start, fast.end, argumentsTail)
          }
          const e = frameJson(frame)
          const d = e?.delta
          if (!d) return undefined
          if (typeof d.text === 'string') {
            // With response_format the content is the forced tool's JSON only; text around it is not part of it.
            return ctx.jsonTool ? undefined : delta(`{"content":${JSON.stringify(d.text)}}`)
          }
          if (d.toolUse && typeof d.toolUse.input === 'string') {
            if (e.contentBlockIndex === jsonBlock) return delta(`{"content":${JSON.stringify(d.toolUse.input)}}`)
            const index = toolIndex.get(e.contentBlockIndex)
            if (index === undefined) return undefined
            return delta(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(d.toolUse.input)}}}]}`)
          }
          if (typeof d.reasoningContent?.text === 'string') return delta(`{"reasoning_content":${JSON.stringify(d.reasoningContent.text)}}`)
          return undefined // reasoning signatures, redacted reasoning, citations: nothing OpenAI's format carries
        }
        case 'messageStart':
          return delta('{"role":"assistant","content":""}')
        case 'contentBlockStart': {
          const e = frameJson(frame)
          const tool = e?.start?.toolUse
          if (!tool) return undefined
          if (ctx.jsonTool && tool.name === ctx.jsonTool) {
            jsonBlock = e.contentBlockIndex
            return undefined
          }
          const index = toolIndex.size
          toolIndex.set(e.contentBlockIndex, index)
          return delta(`{"tool_calls":[{"index":${index},"id":${JSON.stringify(tool.toolUseId)},"type":"function","function":{"name":${JSON.stringify(tool.name)},"arguments":""}}]}`)
        }
        case 'messageStop':
          return delta('{}', finishReason(frameJson(frame)?.stopReason, ctx.jsonTool))
        case 'metadata': {
          if (!ctx.includeUsage) return undefined
          const usage = usageFrom(frameJson(frame)?.usage)
          return usage ? encoder.encode(`${head}[],"usage":${JSON.stringify(usage)}}\n\n`) : undefined
        }
        default:
          return undefined
      }
    },
    error(failure: StreamFailure) {
      return encoder.encode(`data: ${JSON.stringify({ error: errorBody(failure.status, failure.message, failure.exception) })}\n\n`)
    },
    trailer: sseAccounting,
    end: () => DONE,
  }
}


const TEXT = 1
const TOOL_INPUT = 2
const BLOCK_PREFIX = encoder.encode('{"contentBlockIndex":')
const TEXT_PREFIX = encoder.encode(',"delta":{"text":')
const TOOL_PREFIX = encoder.encode(',"delta":{"toolUse":{"input":')

/**
 * Where the delta's string literal lies in a payload of Bedrock's usual shape,
 * `{"contentBlockIndex":N,"delta":{"text":"…"}…` or `…"delta":{"toolUse":{"input":"…"}}…` (quotes included);
 * undefined for any other shape.
 */
function deltaLiteral(p: Uint8Array): { kind: 'text' | 'tool'; block: number; start: number; end: number } | undefined {
  if (!startsWith(p, BLOCK_PREFIX, 0)) return undefined
  let i = BLOCK_PREFIX.length
  let block = 0
  const digits = i
  while (i < p.length && p[i] >= 0x30 && p[i] <= 0x39) block = block * 10 + (p[i++] - 0x30)
  if (i === digits) return undefined
  let kind: number
  if (startsWith(p, TEXT_PREFIX, i)) (kind = TEXT), (i += TEXT_PREFIX.length)
  else if (startsWith(p, TOOL_PREFIX, i)) (kind = TOOL_INPUT), (i += TOOL_PREFIX.length)
  else return undefined
  if (p[i] !== 0x22) return undefined
  const start = i++
  for (; i < p.length; i++) {
    const c = p[i]
    if (c === 0x5c) i++ // an escape: skip the escaped character
    else if (c === 0x22) break
    else if (c < 0x20) return undefined // a raw control character: not valid JSON, take the slow path
  }
  // The literal must close, and close its object: `"}` (text) or `"}}` (tool input).
  if (i >= p.length || p[i + 1] !== 0x7d || (kind === TOOL_INPUT && p[i + 2] !== 0x7d)) return undefined
  return { kind: kind === TEXT ? 'text' : 'tool', block, start, end: i + 1 }
}

function startsWith(p: Uint8Array, prefix: Uint8Array, at: number): boolean {
  if (p.length < at + prefix.length) return false
  for (let j = 0; j < prefix.length; j++) if (p[at + j] !== prefix[j]) return false
  return true
}

function join(head: Uint8Array, p: Uint8Array, start: number, end: number, tail: Uint8Array): Uint8Array {
  const out = new Uint8Array(head.length + (end - start) + tail.length)
  out.set(head, 0)
  out.set(p.subarray(start, end), head.length)
  out.set(tail, head.length + end - start)
  return out
}
