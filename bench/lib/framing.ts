/**
 * Micro-benchmark of the streaming hot path: framing (CRC checks + header walk) and SSE re-encoding, per frame.
 * Not a test. Works under Node/Deno (e.g. `npx tsx -e "import('./bench/lib/framing.ts').then(async m => console.log(await m.benchFraming()))"`)
 * and inside workerd, where the clock only advances at I/O: each timed loop is bracketed by a `setTimeout(0)`.
 */
import { decodeFrame, EventStreamFramer, type Frame } from '../../src/wire/eventstream'
import { sseFromFrame } from '../../src/wire/sse'

/** Real Bedrock bytes: vercel/ai issue-18994 live capture (claude-sonnet-4-6), 6 frames, 1,157 bytes. */
const REAL_CAPTURE_B64 =
  'AAAAtAAAAFIFAEFlCzpldmVudC10eXBlBwAMbWVzc2FnZVN0YXJ0DTpjb250ZW50LXR5cGUHABBhcHBsaWNhdGlvbi9qc29uDTptZXNzYWdlLXR5cGUHAAVldmVudHsicCI6ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIiLCJyb2xlIjoiYXNzaXN0YW50In2fX38tAAAAswAAAFfHSmn6CzpldmVudC10eXBlBwARY29udGVudEJsb2NrRGVsdGENOmNvbnRlbnQtdHlwZQcAEGFwcGxpY2F0aW9uL2pzb24NOm1lc3NhZ2UtdHlwZQcABWV2ZW50eyJjb250ZW50QmxvY2tJbmRleCI6MCwiZGVsdGEiOnsidGV4dCI6Ik9LIn0sInAiOiJhYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3gifXbBTlwAAAC+AAAAVz/arUsLOmV2ZW50LXR5cGUHABFjb250ZW50QmxvY2tEZWx0YQ06Y29udGVudC10eXBlBwAQYXBwbGljYXRpb24vanNvbg06bWVzc2FnZS10eXBlBwAFZXZlbnR7ImNvbnRlbnRCbG9ja0luZGV4IjowLCJkZWx0YSI6eyJ0ZXh0IjoiLiJ9LCJwIjoiYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXpBQkNERUZHSElKIn2GXR0lAAAAhgAAAFbZjG6aCzpldmVudC10eXBlBwAQY29udGVudEJsb2NrU3RvcA06Y29udGVudC10eXBlBwAQYXBwbGljYXRpb24vanNvbg06bWVzc2FnZS10eXBlBwAFZXZlbnR7ImNvbnRlbnRCbG9ja0luZGV4IjowLCJwIjoiYWIiffM4iiAAAADZAAAAUf2royMLOmV2ZW50LXR5cGUHAAttZXNzYWdlU3RvcA06Y29udGVudC10eXBlBwAQYXBwbGljYXRpb24vanNvbg06bWVzc2FnZS10eXBlBwAFZXZlbnR7ImFkZGl0aW9uYWxNb2RlbFJlc3BvbnNlRmllbGRzIjp7ImRlbHRhIjp7InN0b3Bfc2VxdWVuY2UiOm51bGx9fSwicCI6ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3Iiwic3RvcFJlYXNvbiI6ImVuZF90dXJuIn0g4kjQAAABAQAAAE4CeknrCzpldmVudC10eXBlBwAIbWV0YWRhdGENOmNvbnRlbnQtdHlwZQcAEGFwcGxpY2F0aW9uL2pzb24NOm1lc3NhZ2UtdHlwZQcABWV2ZW50eyJtZXRyaWNzIjp7ImxhdGVuY3lNcyI6ODAyfSwicCI6ImFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJDREVGR0hJSktMTU5PUFFSUyIsInVzYWdlIjp7ImlucHV0VG9rZW5zIjoxMiwib3V0cHV0VG9rZW5zIjo1LCJzZXJ2ZXJUb29sVXNhZ2UiOnt9LCJ0b3RhbFRva2VucyI6MTd9fa0jZVA='

export function realCaptureBytes(): Uint8Array {
  return Uint8Array.from(atob(REAL_CAPTURE_B64), (c) => c.charCodeAt(0))
}

export interface FramingBenchResult {
  frames: number
  bytesPerFrame: number
  /** Framing + SSE, whole stream pushed as one chunk (frames are views). */
  usPerFrame: number
  /** Framing + SSE, stream pushed in 64-byte chunks (every frame reassembled). */
  usPerFrameChunked: number
  /** Framing alone (one chunk). */
  usPerFrameFramingOnly: number
  /** SSE re-encoding alone, on already-framed frames. */
  usPerFrameSseOnly: number
  /** Baseline: full decode (header record, TextDecoder, JSON.parse) then JSON.stringify + TextEncoder. */
  usPerFrameNaive: number
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

async function time(iterations: number, framesPerIteration: number, body: () => number): Promise<number> {
  let sink = 0
  for (let i = 0; i < Math.min(1000, iterations); i++) sink += body() // warm-up
  await tick()
  const t0 = performance.now()
  for (let i = 0; i < iterations; i++) sink += body()
  await tick()
  const t1 = performance.now()
  if (sink === -1) console.log(sink) // keep the work observable
  return ((t1 - t0) * 1000) / (iterations * framesPerIteration)
}

/** µs per frame for framing + SSE on the real capture (or on `stream`, any complete event stream). */
export async function benchFraming(iterations = 20_000, stream: Uint8Array = realCaptureBytes()): Promise<FramingBenchResult> {
  const framer0 = new EventStreamFramer()
  const frames: Frame[] = framer0.push(stream)
  framer0.end()
  const n = frames.length
  const chunks: Uint8Array[] = []
  for (let i = 0; i < stream.length; i += 64) chunks.push(stream.subarray(i, i + 64))
  const encoder = new TextEncoder()
  const decoder = new TextDecoder()

  const framingAndSse = () => {
    const framer = new EventStreamFramer()
    let bytes = 0
    for (const f of framer.push(stream)) bytes += sseFromFrame(f).length
    framer.end()
    return bytes
  }
  const framingAndSseChunked = () => {
    const framer = new EventStreamFramer()
    let bytes = 0
    for (const c of chunks) for (const f of framer.push(c)) bytes += sseFromFrame(f).length
    framer.end()
    return bytes
  }
  const framingOnly = () => {
    const framer = new EventStreamFramer()
    const out = framer.push(stream)
    framer.end()
    return out.length
  }
  const sseOnly = () => {
    let bytes = 0
    for (const f of frames) bytes += sseFromFrame(f).length
    return bytes
  }
  const naive = () => {
    let bytes = 0
    for (const f0 of frames) {
      const f = decodeFrame(f0.bytes.slice())
      const h = f.headers
      const body = JSON.parse(decoder.decode(f.payload))
      const eventType = h[':event-type'].value as string
      bytes += encoder.encode(`event: ${eventType}\ndata: ${JSON.stringify(body)}\n\n`).length
    }
    return bytes
  }

  return {
    frames: n,
    bytesPerFrame: stream.length / n,
    usPerFrame: await time(iterations, n, framingAndSse),
    usPerFrameChunked: await time(iterations, n, framingAndSseChunked),
    usPerFrameFramingOnly: await time(iterations, n, framingOnly),
    usPerFrameSseOnly: await time(iterations, n, sseOnly),
    usPerFrameNaive: await time(iterations, n, naive),
  }
}
