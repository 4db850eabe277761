/**
 * InvokeModelWithResponseStream's events: `chunk` frames whose JSON payload is `{"bytes": "<base64>"}`, the
 * base64 holding one of the model's own stream events as JSON (Anthropic's message_start … message_stop; the last
 * one carries `amazon-bedrock-invocationMetrics`).
 */
import type { Frame } from './eventstream'

const decoder = new TextDecoder()

/** The JSON text of the model's own event inside a `chunk` frame, or undefined when the frame is not one. */
export function invokeChunkText(frame: Frame): string | undefined {
  try {
    const b64 = JSON.parse(decoder.decode(frame.payload)).bytes
    return typeof b64 === 'string' ? decoder.decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))) : undefined
  } catch {
    return undefined
  }
}

/** The model's own event inside a `chunk` frame, parsed, or undefined when the frame is not one. */
export function invokeChunkEvent(frame: Frame): Record<string, any> | undefined {
  const text = invokeChunkText(frame)
  if (text === undefined) return undefined
  try {
    const event = JSON.parse(text)
    return event && typeof event === 'object' && !Array.isArray(event) ? event : undefined
  } catch {
    return undefined
  }
}
