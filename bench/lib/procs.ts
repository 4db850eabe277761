/**
 * Child processes for the benchmarks (simulator, router, peer gateway): spawned with their own event loops,
 * stopped by PID (never by name), and their CPU time read from /proc to get CPU per request under load.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const children = new Set<ChildProcess>()

export interface Child<T> {
  proc: ChildProcess
  pid: number
  /** The first JSON line the child printed. */
  info: T
  stop(): Promise<void>
}

/** Spawns `node [nodeArgs] script args`, waits for its first stdout line that parses as JSON. */
export async function spawnJson<T>(nodeArgs: string[], script: string, args: string[] = [], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Child<T>> {
  const proc = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(proc)
  let stderr = ''
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-4000)
  })
  const info = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start within ${opts.timeoutMs ?? 60000} ms: ${stderr}`)), opts.timeoutMs ?? 60000)
    const lines = createInterface({ input: proc.stdout! })
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return
      try {
        const parsed = JSON.parse(line) as T
        clearTimeout(timer)
        resolve(parsed)
      } catch {
        // not our line
      }
    })
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${code} before it was ready: ${stderr}`))
    })
  })
  proc.stdout!.resume()
  return { proc, pid: proc.pid!, info, stop: () => stopChild(proc) }
}

export function stopChild(proc: ChildProcess, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      children.delete(proc)
      return resolve()
    }
    const timer = setTimeout(() => {
      if (proc.pid) {
        try {
          process.kill(proc.pid, 'SIGKILL')
        } catch {
          // gone
        }
      }
    }, graceMs)
    proc.once('exit', () => {
      clearTimeout(timer)
      children.delete(proc)
      resolve()
    })
    proc.stdin?.end()
    try {
      process.kill(proc.pid!, 'SIGTERM')
    } catch {
      // gone
    }
  })
}

/** Stops every child this process started (on exit or interrupt). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c)))
}

const tck = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU time of a process, ms (Linux /proc; NaN elsewhere). */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); utime = field 14, stime = field 15
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / tck
  } catch {
    return NaN
  }
}

/** PIDs of a process's descendants (Linux /proc). */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>()
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
        parentOf.set(Number(name), ppid)
      } catch {
        // exited
      }
    }
  } catch {
    return []
  }
  const out: number[] = []
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) if (parent === p) {
      out.push(child)
      walk(child)
    }
  }
  walk(pid)
  return out
}

export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

/** Sum of CPU time over several processes, ms. */
export function cpuOf(pids: readonly number[]): number {
  let total = 0
  for (const p of pids) total += cpuTimeMs(p)
  return total
}
