/** Per region+model counters and the last N requests, for test assertions. */
import type { ModelStats, Operation, RecordedRequest, SimStats } from './types'

type Counters = Omit<ModelStats, 'windowRequests' | 'windowTokens'>

const emptyCounters = (): Counters => ({
  accepted: 0,
  rejected: 0,
  errors: {},
  streamsCut: 0,
  streamExceptions: 0,
  streamsCancelled: 0,
  inputTokens: 0,
  outputTokens: 0,
  cacheReadInputTokens: 0,
  cacheWriteInputTokens: 0,
})

export type NewRecord = Omit<RecordedRequest, 'authorization'>

export interface RequestFilter {
  region?: string
  modelId?: string
  operation?: Operation
  limit?: number
}

export class Recorder {
  private counters = new Map<string, Map<string, Counters>>()
  private records: RecordedRequest[] = []

  constructor(
    private readonly maxRecords: number,
    private readonly windowOf: (region: string, modelId: string) => { requests: number; tokens: number },
  ) {}

  private of(region: string, modelId: string): Counters {
    let byModel = this.counters.get(region)
    if (!byModel) this.counters.set(region, (byModel = new Map()))
    let c = byModel.get(modelId)
    if (!c) byModel.set(modelId, (c = emptyCounters()))
    return c
  }

  /** Stores a record; the Authorization header is attached as a non-enumerable property (never serialised). */
  add(rec: NewRecord, authorization: string | null): RecordedRequest {
    const stored = { ...rec } as RecordedRequest
    if (authorization !== null) Object.defineProperty(stored, 'authorization', { value: authorization, enumerable: false })
    this.records.push(stored)
    if (this.records.length > this.maxRecords) this.records.splice(0, this.records.length - this.maxRecords)
    return stored
  }

  accepted(region: string, modelId: string): void {
    this.of(region, modelId).accepted++
  }

  rejected(region: string, modelId: string, errorType: string): void {
    const c = this.of(region, modelId)
    c.rejected++
    c.errors[errorType] = (c.errors[errorType] ?? 0) + 1
  }

  tokens(region: string, modelId: string, input: number, output: number, cacheRead = 0, cacheWrite = 0): void {
    const c = this.of(region, modelId)
    c.inputTokens += input
    c.outputTokens += output
    c.cacheReadInputTokens += cacheRead
    c.cacheWriteInputTokens += cacheWrite
  }

  streamEnded(region: string, modelId: string, how: 'cut' | 'exception' | 'cancelled'): void {
    const c = this.of(region, modelId)
    if (how === 'cut') c.streamsCut++
    else if (how === 'cancelled') c.streamsCancelled++
    else c.streamExceptions++
  }

  stats(): SimStats {
    const out: SimStats = {}
    for (const [region, byModel] of this.counters) {
      out[region] = {}
      for (const [modelId, c] of byModel) {
        const w = this.windowOf(region, modelId)
        out[region][modelId] = { ...c, errors: { ...c.errors }, windowRequests: w.requests, windowTokens: w.tokens }
      }
    }
    return out
  }

  /** Oldest first; `limit` keeps the most recent ones. */
  requests(f: RequestFilter = {}): RecordedRequest[] {
    const hits = this.records.filter(
      (r) =>
        (f.region === undefined || r.region === f.region) &&
        (f.modelId === undefined || r.modelId === f.modelId) &&
        (f.operation === undefined || r.operation === f.operation),
    )
    return f.limit !== undefined ? hits.slice(Math.max(0, hits.length - f.limit)) : hits
  }

  clear(): void {
    this.counters.clear()
    this.records = []
  }
}
