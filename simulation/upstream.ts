/**
 * The simulator's stand-in for Bedrock: one deployment's true quota (exact sliding 60 s windows over arrival times),
 * latency, injected errors and outages. Quota follows docs/bedrock-wire.md §6.3: a request is throttled if admitting it
 * (one request; input + maxTokens reserved) would exceed rpm/tpm in the last 60 s; a throttled or failed request
 * consumes nothing; at the end the reservation settles to input + output × burndown.
 */
import type { DeploymentConfig } from '../src/config/types'
import { burndownOf, maxOutputTokensOf } from '../src/routing/models'

export interface SimUpstreamConfig {
  /** True Bedrock quota (may differ from the deployment's configured rpm/tpm, e.g. shared with other traffic). */
  rpm?: number
  tpm?: number
  /** Mean total latency of a successful Converse, ms (uniform ±50%). Default 800. */
  latencyMs?: number
  /** Share of a stream's latency spent before the first byte. Default 0.3. */
  ttfbShare?: number
  /** Probability that an admitted request fails with a 5xx (`errorStatus`, default 500). Default 0. */
  errorRate?: number
  errorStatus?: number
  /**
   * Probability that a request is throttled whatever the quota holds (shared capacity at peak, on-demand spikes):
   * the failure the router's design does not assume. Default 0.
   */
  throttleRate?: number
  /**
   * Periods (ms since the start of the run) when requests fail with `status` (default 503): every request, or each
   * with probability `rate` (a brownout). `status: 429` makes it a throttle storm.
   */
  outages?: { fromMs: number; toMs: number; status?: number; rate?: number }[]
  /**
   * Traffic the router does not see sharing this quota: `rpm` requests a minute (evenly spaced) of `tokens` tokens
   * each (default 1,000), from `fromMs` to `toMs` (default: the whole run).
   */
  background?: { rpm: number; tokens?: number; fromMs?: number; toMs?: number }
  /** How fast a 429 / 5xx comes back, ms. Default 30. */
  errorLatencyMs?: number
}

/** An admitted request in the window. */
export interface Arrival {
  at: number
  tokens: number
}

export interface AdmitResult {
  status: number
  /** Latency as the router measures it: total for Converse, time to first byte for streams. */
  latencyMs: number
  /** When the attempt is over (the whole answer or stream). */
  durationMs: number
  /** Admitted requests only: settle it when done. */
  arrival?: Arrival
}

export class SimUpstream {
  private readonly arrivals: Arrival[] = []
  private head = 0
  private requests = 0
  private tokens = 0
  /** Next background arrival, epoch ms. */
  private nextBackground: number

  constructor(
    readonly deployment: DeploymentConfig,
    readonly config: SimUpstreamConfig,
    private readonly startMs: number,
  ) {
    this.nextBackground = startMs + (config.background?.fromMs ?? 0)
  }

  /** Adds the unseen traffic that arrived by `now` to the window (it takes room whenever there is room). */
  private addBackground(now: number): void {
    const bg = this.config.background
    if (!bg || bg.rpm <= 0) return
    const gap = 60_000 / bg.rpm
    const end = this.startMs + (bg.toMs ?? Number.POSITIVE_INFINITY)
    const tokens = bg.tokens ?? 1000
    while (this.nextBackground <= now && this.nextBackground < end) {
      const at = this.nextBackground
      this.nextBackground += gap
      if (at <= now - 60_000) continue
      if (this.requests + 1 > (this.config.rpm ?? Infinity) || this.tokens + tokens > (this.config.tpm ?? Infinity)) continue
      this.arrivals.push({ at, tokens })
      this.requests++
      this.tokens += tokens
    }
  }

  private prune(now: number): void {
    this.addBackground(now)
    while (this.head < this.arrivals.length && this.arrivals[this.head].at <= now - 60_000) {
      this.requests--
      this.tokens -= this.arrivals[this.head].tokens
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.arrivals.length) {
      this.arrivals.splice(0, this.head)
      this.head = 0
    }
  }

  /** Whether every request fails now (a hard outage: the oracle's view). */
  isDown(now: number): boolean {
    const t = now - this.startMs
    return (this.config.outages ?? []).some((o) => t >= o.fromMs && t < o.toMs && (o.rate === undefined || o.rate >= 1))
  }

  /** Whether a request reserving `tokens` would be admitted now (the oracle's view). */
  hasRoom(now: number, tokens: number): boolean {
    this.prune(now)
    return this.requests + 1 <= (this.config.rpm ?? Infinity) && this.tokens + tokens <= (this.config.tpm ?? Infinity)
  }

  /** Relative room left, 0..1 (1 without quota). */
  headroom(now: number, tokens: number): number {
    this.prune(now)
    const r = this.config.rpm ? (this.config.rpm - this.requests - 1) / this.config.rpm : 1
    const t = this.config.tpm ? (this.config.tpm - this.tokens - tokens) / this.config.tpm : 1
    return Math.max(0, Math.min(r, t))
  }

  admit(now: number, inputTokens: number, maxTokens: number | undefined, stream: boolean, rng: () => number): AdmitResult {
    const errorLatency = this.config.errorLatencyMs ?? 30
    const t = now - this.startMs
    const failed = (status: number) => ({ status, latencyMs: errorLatency, durationMs: errorLatency })
    for (const outage of this.config.outages ?? []) {
      if (t >= outage.fromMs && t < outage.toMs && (outage.rate === undefined || rng() < outage.rate)) return failed(outage.status ?? 503)
    }
    if (this.config.throttleRate && rng() < this.config.throttleRate) return failed(429)
    const reserve = inputTokens + (maxTokens ?? maxOutputTokensOf(this.deployment))
    if (!this.hasRoom(now, reserve)) return failed(429)
    if (this.config.errorRate && rng() < this.config.errorRate) return failed(this.config.errorStatus ?? 500)
    const arrival = { at: now, tokens: reserve }
    this.arrivals.push(arrival)
    this.requests++
    this.tokens += reserve
    const total = (this.config.latencyMs ?? 800) * (0.5 + rng())
    return { status: 200, latencyMs: stream ? total * (this.config.ttfbShare ?? 0.3) : total, durationMs: total, arrival }
  }

  /** Settles an admitted request's reservation to what it really used (input + output × burndown). */
  settle(arrival: Arrival, now: number, inputTokens: number, outputTokens: number): void {
    const settled = inputTokens + outputTokens * burndownOf(this.deployment)
    this.prune(now)
    if (arrival.at > now - 60_000) this.tokens += settled - arrival.tokens
    arrival.tokens = settled
  }
}
