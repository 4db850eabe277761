/** The machine a benchmark ran on, for the report header. */
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { readFileSync } from 'node:fs'

export interface MachineInfo {
  nproc: number
  cpuModel: string
  memoryGb: number
  node: string
  os: string
  date: string
  commit: string
  dirty: boolean
  loadAverage: number[]
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown'
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpuModel = m[1].trim()
  } catch {
    // not Linux
  }
  const nproc = Number(sh('nproc', [])) || os.availableParallelism?.() || os.cpus().length
  return {
    nproc,
    cpuModel,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: sh('git', ['status', '--porcelain']).length > 0,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  }
}
