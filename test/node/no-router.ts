/**
 * The "no router at all" baseline: what a careful client does on its own with a list of Bedrock regions. For each
 * request it starts at the next region in turn (round robin) and tries each region at most once, stopping at the
 * first success; it moves on after a 429, a 5xx, a timeout, a broken connection, or a stream that failed before
 * any content reached it. Other errors (4xx) are the request's fault and end it. No pauses, no breakers, no memory.
 */
import { DEMO_API_KEY } from '../../simulator/demo-credentials'
import { EventStreamFramer } from '../../src/wire/eventstream'
import { readOutcome, type Operation, type Outcome, type RequestResult } from './noise-kit'

export interface DirectDeployment {
  region: string
  /** The simulator listener of that region, e.g. `http://127.0.0.1:41234`. */
  endpoint: string
  modelId: string
}

export interface NoRouterOptions {
  /** Per attempt (a real client's read timeout). Default 10 s. */
  attemptTimeoutMs?: number
  /** Bedrock API key the simulator accepts (`Authorization: Bearer`). Default: the simulator's demo key. */
  apiKey?: string
}

export class NoRouterClient {
  private next = 0
  private readonly attemptTimeoutMs: number
  private readonly apiKey: string

  constructor(
    private readonly deployments: DirectDeployment[],
    opts: NoRouterOptions = {},
  ) {
    if (deployments.length === 0) throw new Error('NoRouterClient needs at least one deployment')
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 10_000
    this.apiKey = opts.apiKey ?? DEMO_API_KEY
  }

  async send(operation: Operation, body: string): Promise<RequestResult> {
    const startedAt = Date.now()
    const start = this.next++ % this.deployments.length
    const tried: string[] = []
    let last: Outcome = { kind: 'malformed', detail: 'no attempt made' }
    for (let k = 0; k < this.deployments.length; k++) {
      const d = this.deployments[(start + k) % this.deployments.length]
      tried.push(d.region)
      const { outcome, retry } = await this.attempt(d, operation, body)
      last = outcome
      if (!retry) break
    }
    return { outcome: last, attempts: tried.length, tried, startedAt }
  }

  private async attempt(d: DirectDeployment, operation: Operation, body: string): Promise<{ outcome: Outcome; retry: boolean }> {
    let res: Response
    let bytes: Uint8Array<ArrayBuffer>
    try {
      res = await fetch(`${d.endpoint}/model/${encodeURIComponent(d.modelId)}/${operation}`, {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${this.apiKey}`, 'content-type': 'application/json' },
        signal: AbortSignal.timeout(this.attemptTimeoutMs),
      })
      bytes = new Uint8Array(await res.arrayBuffer())
    } catch (e) {
      // Timeout, refused or reset connection, or a body cut off: nothing usable arrived, try the next region.
      return { outcome: { kind: 'error', status: 0, errorType: 'NetworkError', message: `no answer from ${d.region}: ${e instanceof Error ? e.name : String(e)}`, via: 'http' }, retry: true }
    }
    const outcome = await readOutcome(new Response(bytes, { status: res.status, headers: res.headers }), operation === 'converse' ? 'json' : 'binary')
    if (outcome.kind === 'served') return { outcome, retry: false }
    if (res.status === 429 || res.status >= 500) return { outcome, retry: true }
    if (res.status !== 200) return { outcome, retry: false }
    // A 200 stream that failed: retry elsewhere only if no content reached the client (else it has seen text).
    return { outcome, retry: !hasContent(bytes) }
  }
}

/** Whether a (possibly truncated) binary event stream holds any content delta before it ends. */
function hasContent(bytes: Uint8Array): boolean {
  const framer = new EventStreamFramer()
  try {
    return framer.push(bytes).some((f) => f.eventType === 'contentBlockDelta')
  } catch (e) {
    const frames = (e as { frames?: Array<{ eventType?: string }> }).frames ?? []
    return frames.some((f) => f.eventType === 'contentBlockDelta')
  }
}
