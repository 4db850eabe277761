/**
 * Section 3 runner: bundles bench/workers/cpu.ts the way the worker is bundled and runs it inside workerd
 * (Miniflare), several times; then the same loop in Node (labelled) as a cross-check. Also reads workerd's own CPU
 * time (/proc) around each run, so the in-isolate clock can be compared with what the process really spent.
 */
import { Miniflare } from 'miniflare'
import { fileURLToPath } from 'node:url'
import { cpuOf, descendants, processName } from './lib/procs'
import type { CpuBenchResult } from './workers/cpu-core'
import type { Readable } from 'node:stream'
import { bundleWorker } from '../scripts/router-runtime'

export interface CpuSection {
  workerd: CpuBenchResult[]
  /** workerd process CPU (user+sys) per converse request, estimated from a dedicated converse-only batch. */
  workerdProcessUsPerRequest: number[]
  node?: CpuBenchResult
  nodeError?: string
}

function bundle(): Promise<string> {
  return bundleWorker(fileURLToPath(new URL('./workers/cpu.ts', import.meta.url)))
}

export async function runCpu(opts: { runs: number; n: number; log: (s: string) => void }): Promise<CpuSection> {
  const script = await bundle()
  const out: CpuSection = { workerd: [], workerdProcessUsPerRequest: [] }
  let stderrText = ''
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2026-04-01',
    host: '127.0.0.1',
    port: 0,
    // Loopback only: no attempt to fetch the Request.cf placeholder from workers.cloudflare.com.
    cf: false,
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume()
      stderr.on('data', (d: Buffer) => {
        stderrText = (stderrText + String(d)).slice(-4000)
      })
    },
  })
  try {
    await mf.ready.catch((e) => {
      throw new Error(`workerd did not start the CPU bench worker: ${e instanceof Error ? e.message : e}\n${stderrText}`)
    })
    const workerd = descendants(process.pid).filter((p) => processName(p) === 'workerd')
    for (let i = 0; i < opts.runs; i++) {
      const res = await mf.dispatchFetch(`http://bench/run?n=${opts.n}&batches=5`)
      const json = (await res.json()) as CpuBenchResult & { error?: string }
      if (json.error) throw new Error(`cpu bench in workerd failed: ${json.error}`)
      out.workerd.push(json)
      opts.log(`  workerd run ${i + 1}: converse ${json.converse.weighted.toFixed(0)} µs/request, signing ${json.signing.toFixed(0)} µs, SSE ${json.stream.ssePerEventUs.toFixed(2)} µs/event`)
      // Cross-check the in-isolate clock with the process's CPU time on a converse-only run.
      const before = cpuOf(workerd)
      const n = opts.n * 4
      const r2 = await mf.dispatchFetch(`http://bench/converse-only?n=${n}`)
      const spent = cpuOf(workerd) - before
      const body = (await r2.json()) as { requests?: number }
      if (body.requests) out.workerdProcessUsPerRequest.push((spent * 1000) / body.requests)
    }
  } finally {
    await mf.dispose()
  }
  // Node cross-check (labelled as such in the report); the app's log line is dropped instead of printed.
  const log = console.log
  try {
    console.log = () => {}
    const { runCpuBench } = await import('./workers/cpu-core')
    out.node = await runCpuBench({ n: opts.n, batches: 5 })
  } catch (e) {
    out.nodeError = e instanceof Error ? e.message : String(e)
  } finally {
    console.log = log
  }
  return out
}
