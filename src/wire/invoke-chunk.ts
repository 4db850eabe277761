/**
 * Event-stream frame payloads as JSON, and InvokeModelWithResponseStream's events: `chunk` frames whose JSON payload
 * is `{"bytes": "<base64>"}`, the base64 holding one of the model's own stream events as JSON (Anthropic's
 * message_start … message_stop; the last one carries `amazon-bedrock-invocationMetrics`).
 */
import { base64ToUtf8, jsonObject } from './base64'
import type { Frame } from './eventstream'

const decoder = new TextDecoder()

/** A frame's JSON payload, or undefined when it is not a JSON object. */
export function frameJson(frame: Frame): Record<string, any> | undefined {
  return jsonObject(decoder.decode(frame.payload))
}

/** The JSON text of the model's own event inside a `chunk` frame, or undefined when the frame is not one. */
export function invokeChunkText(frame: Frame): string | undefined {
  const b64 = frameJson(frame)?.bytes
  if (typeof b64 !== 'string') return undefined
  try {
    return base64ToUtf8(b64)
  } catch {
    return undefined
  }
}

/** The model's own event inside a `chunk` frame, parsed, or undefined when the frame is not one. */
export function invokeChunkEvent(frame: Frame): Record<string, any> | undefined {
  const text = invokeChunkText(frame)
  return text === undefined ? undefined : jsonObject(text)
}
