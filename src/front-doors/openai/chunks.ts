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
 * The chunk envelope (id, created, model) is the same for every chunk: it is built once, and each event costs one
 * JSON.parse of its payload and one JSON.stringify of its delta.
 */
import type { StreamFailure, StreamRenderer } from '../../engine/converse-stream'
import type { Frame } from '../../wire/eventstream'
import { errorBody, statusOfException } from './errors'
import { finishReason, usageFrom, type ResponseContext } from './from-converse'

const decoder = new TextDecoder()
const encoder = new TextEncoder()
const DONE = encoder.encode('data: [DONE]\n\n')

export function chunkRenderer(ctx: ResponseContext & { includeUsage: boolean }): StreamRenderer {
  const head = `data: {"id":${JSON.stringify(ctx.id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"choices":`
  const delta = (d: string, finish: string | null = null) => encoder.encode(`${head}[{"index":0,"delta":${d},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`)
  /** Converse content block index → OpenAI tool call index (tool calls count from 0 in the order they start). */
  const toolIndex = new Map<number, number>()
  let jsonBlock: number | undefined

  return {
    event(frame: Frame) {
      switch (frame.eventType) {
        case 'contentBlockDelta': {
          const e = parse(frame)
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
          const e = parse(frame)
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
          return delta('{}', finishReason(parse(frame)?.stopReason, ctx.jsonTool))
        case 'metadata': {
          if (!ctx.includeUsage) return undefined
          const usage = usageFrom(parse(frame)?.usage)
          return usage ? encoder.encode(`${head}[],"usage":${JSON.stringify(usage)}}\n\n`) : undefined
        }
        default:
          return undefined
      }
    },
    error(failure: StreamFailure) {
      return encoder.encode(`data: ${JSON.stringify({ error: errorBody(statusOfException(failure.exception), failure.message, failure.exception) })}\n\n`)
    },
    end: () => DONE,
  }
}

function parse(frame: Frame): Record<string, any> | undefined {
  try {
    return JSON.parse(decoder.decode(frame.payload))
  } catch {
    return undefined
  }
}
