/// <reference types="vite/client" />
/**
 * Test-only: the captured Bedrock event streams in test/fixtures/bedrock-eventstream (see its README), loaded
 * with Vite raw imports (workerd tests cannot read the disk), with their expected frame-by-frame decodings.
 */
import envoyTextB64 from '../fixtures/bedrock-eventstream/envoy-ai-gateway-converse-stream-text-old.b64?raw'
import envoyTextJsonl from '../fixtures/bedrock-eventstream/envoy-ai-gateway-converse-stream-text-old.decoded.jsonl?raw'
import envoyToolB64 from '../fixtures/bedrock-eventstream/envoy-ai-gateway-converse-stream-tooluse.b64?raw'
import envoyToolJsonl from '../fixtures/bedrock-eventstream/envoy-ai-gateway-converse-stream-tooluse.decoded.jsonl?raw'
import kongJsonl from '../fixtures/bedrock-eventstream/kong-lua-resty-aws-converse-stream.decoded.jsonl?raw'
import kongHex from '../fixtures/bedrock-eventstream/kong-lua-resty-aws-converse-stream.hex?raw'
import vercelLiveB64 from '../fixtures/bedrock-eventstream/vercel-issue-18994-live-sonnet-4-6.b64?raw'
import vercelLiveJsonl from '../fixtures/bedrock-eventstream/vercel-issue-18994-live-sonnet-4-6.decoded.jsonl?raw'
import vercelExcB64 from '../fixtures/bedrock-eventstream/vercel-model-stream-error-exception.b64?raw'
import vercelExcJsonl from '../fixtures/bedrock-eventstream/vercel-model-stream-error-exception.decoded.jsonl?raw'

/** One line of a `.decoded.jsonl`. */
export interface ExpectedFrame {
  total: number
  hlen: number
  prelude_crc: string
  msg_crc: string
  /** [name, wire type byte, value] in wire order. */
  headers: [string, number, string][]
  payload: string
}

export interface Fixture {
  name: string
  bytes: Uint8Array
  expected: ExpectedFrame[]
}

export function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64.replace(/\s+/g, '')), (c) => c.charCodeAt(0))
}

export function fromHex(hex: string): Uint8Array {
  const h = hex.replace(/\s+/g, '')
  if (h.length % 2 !== 0 || /[^0-9a-f]/i.test(h)) throw new Error('bad hex')
  const out = new Uint8Array(h.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16)
  return out
}

const jsonl = (text: string): ExpectedFrame[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ExpectedFrame)

export const FIXTURES: Fixture[] = [
  { name: 'vercel-issue-18994-live-sonnet-4-6', bytes: fromBase64(vercelLiveB64), expected: jsonl(vercelLiveJsonl) },
  { name: 'envoy-ai-gateway-converse-stream-tooluse', bytes: fromBase64(envoyToolB64), expected: jsonl(envoyToolJsonl) },
  { name: 'envoy-ai-gateway-converse-stream-text-old', bytes: fromBase64(envoyTextB64), expected: jsonl(envoyTextJsonl) },
  { name: 'kong-lua-resty-aws-converse-stream', bytes: fromHex(kongHex), expected: jsonl(kongJsonl) },
  { name: 'vercel-model-stream-error-exception', bytes: fromBase64(vercelExcB64), expected: jsonl(vercelExcJsonl) },
]

export const fixture = (name: string): Fixture => {
  const f = FIXTURES.find((x) => x.name === name)
  if (!f) throw new Error(`no fixture ${name}`)
  return f
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Deterministic PRNG so random tests are reproducible. */
export { mulberry32 as rng } from '../../src/routing/random'

export const utf8 = (b: Uint8Array) => new TextDecoder().decode(b)
export const bytesOf = (s: string) => new TextEncoder().encode(s)
