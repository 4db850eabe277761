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
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './overhead'

export interface CpuSection {
  workerd: CpuBenchResult[]
  /** workerd process CPU (user+sys) per converse request, estimated from a dedicated converse-only batch. */
  workerdProcessUsPerRequest: number[]
  /**
   * The same bundle in workerd alone (the binary Miniflare runs, without Miniflare), its stdout written to a file:
   * no process reads the log lines as they come, as none does in a deployed Worker's isolate.
   */
  alone: CpuBenchResult[]
  aloneProcessUsPerRequest: number[]
  aloneError?: string
  node?: CpuBenchResult
  nodeError?: string
}

/** The workerd binary Miniflare itself runs (its `workerd` dependency's default export is the path). */
const workerdBinary = (): string => {
  const fromMiniflare = createRequire(createRequire(import.meta.url).resolve('miniflare'))
  const mod = fromMiniflare('workerd') as { default?: string } | string
  return typeof mod === 'string' ? mod : mod.default!
}

/** workerd alone serving `script` on a free port, stdout and stderr to files in a temporary directory. */
export async function startAlone(script: string): Promise<{ url: string; pid: number; stop: () => void; stderr: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cpu-bench-'))
  const port = await freePort()
  writeFileSync(join(dir, 'worker.js'), script)
  writeFileSync(
    join(dir, 'config.capnp'),
    [
      'using Workerd = import "/workerd/workerd.capnp";',
      `const config :Workerd.Config = ( services = [ (name = "main", worker = .w) ], sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ] );`,
      'const w :Workerd.Worker = ( modules = [ (name = "worker", esModule = embed "worker.js") ], compatibilityDate = "2026-04-01" );',
    ].join('\n'),
  )
  const out = openSync(join(dir, 'stdout.log'), 'w')
  const err = openSync(join(dir, 'stderr.log'), 'w')
  const child = spawn(workerdBinary(), ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', out, err] })
  closeSync(out)
  closeSync(err)
  const stderr = () => {
    try {
      return readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-2000)
    } catch {
      return ''
    }
  }
  const stop = () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) {
      const text = stderr()
      stop()
      throw new Error(`workerd alone exited (${child.exitCode}): ${text}`)
    }
    try {
      await (await fetch(`${url}/ready`)).arrayBuffer()
      break
    } catch {
      if (Date.now() > deadline) {
        stop()
        throw new Error('workerd alone did not answer within 20 s')
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  return { url, pid: child.pid!, stop, stderr }
}

function bundle(): Promise<string> {
  return bundleWorker(fileURLToPath(new URL('./workers/cpu.ts', import.meta.url)))
}

export async function runCpu(opts: { runs: number; n: number; log: (s: string) => void }): Promise<CpuSection> {
  const script = await bundle()
  const out: CpuSection = { workerd: [], workerdProcessUsPerRequest: [], alone: [], aloneProcessUsPerRequest: [] }
  let alone: Awaited<ReturnType<typeof startAlone>> | undefined
  try {
    alone = await startAlone(script)
  } catch (e) {
    out.aloneError = e instanceof Error ? e.message : String(e)
  }
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
      // The same run in workerd alone, straight after (the runs alternate, so both see the same machine).
      if (alone) {
        try {
          const res = await fetch(`${alone.url}/run?n=${opts.n}&batches=5`)
          const json = (await res.json()) as CpuBenchResult & { error?: string }
          if (json.error) throw new Error(json.error)
          out.alone.push(json)
          opts.log(`  workerd alone run ${i + 1}: converse ${json.converse.weighted.toFixed(0)} µs/request, SSE ${json.stream.ssePerEventUs.toFixed(2)} µs/event`)
          const before = cpuOf([alone.pid])
          const r3 = await fetch(`${alone.url}/converse-only?n=${n}`)
          const spentAlone = cpuOf([alone.pid]) - before
          const b3 = (await r3.json()) as { requests?: number }
          if (b3.requests) out.aloneProcessUsPerRequest.push((spentAlone * 1000) / b3.requests)
        } catch (e) {
          out.aloneError = `${e instanceof Error ? e.message : String(e)} ${alone.stderr()}`
          alone.stop()
          alone = undefined
        }
      }
    }
  } finally {
    await mf.dispose()
    alone?.stop()
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
