/**
 * Accounting rows held in memory, by hour: what the memory store keeps, and what a batch is before it is sent.
 * Bounded: at most MAX_ROWS_PER_HOUR rows an hour (rollup.ts folds the rest) and `retentionMs` of hours.
 */
import { addRow, HOUR_MS, MAX_RECENT_FAILOVERS, MAX_ROWS_PER_HOUR, type FailoverEvent, type StatsBatch, type StatsRow } from './rollup'

export const STATS_RETENTION_MS = 35 * 86_400_000

export class StatsLedger {
  private readonly hours = new Map<number, Map<string, StatsRow>>()
  private failovers: FailoverEvent[] = []

  constructor(private readonly retentionMs = STATS_RETENTION_MS) {}

  add(batch: StatsBatch, now = Date.now()): void {
    for (const row of batch.rows) {
      let hour = this.hours.get(row.hour)
      if (!hour) this.hours.set(row.hour, (hour = new Map()))
      addRow(hour, row, MAX_ROWS_PER_HOUR)
    }
    if (batch.failovers.length) this.failovers = [...this.failovers, ...batch.failovers].slice(-MAX_RECENT_FAILOVERS)
    const oldest = now - this.retentionMs
    for (const h of this.hours.keys()) if (h + HOUR_MS < oldest) this.hours.delete(h)
  }

  read(from: number, to: number): { rows: StatsRow[]; failovers: FailoverEvent[] } {
    const rows: StatsRow[] = []
    for (const [h, hour] of this.hours) if (h + HOUR_MS > from && h < to) rows.push(...hour.values())
    return { rows: structuredClone(rows), failovers: this.failovers.filter((f) => f.at >= from && f.at < to) }
  }

  get size(): number {
    let n = 0
    for (const hour of this.hours.values()) n += hour.size
    return n
  }

  /** Nothing held: no rows and no failovers (a batch of failovers alone is still a batch to send). */
  get empty(): boolean {
    return this.failovers.length === 0 && this.size === 0
  }

  /** Everything held, emptied (a batch being sent). */
  take(): StatsBatch {
    const rows: StatsRow[] = []
    for (const hour of this.hours.values()) rows.push(...hour.values())
    const batch = { rows, failovers: this.failovers }
    this.hours.clear()
    this.failovers = []
    return batch
  }
}
