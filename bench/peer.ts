/**
 * Section 2b: the peer comparison with an independent load generator. `wrk` (C, one thread, its own process; the
 * measured processes pay nothing for it) drives each path with a fixed request for a fixed time; the simulator runs in
 * its own process. Paths, all against the same simulator:
 *   direct        : wrk → simulator (pre-signed SigV4; the simulator verifies it every time)
 *   router        : wrk → the router as `npm start` runs it (workerd via Miniflare, DO state, leases "auto": the default), Bedrock door
 *   router/openai : the same process, OpenAI chat door (the request format Portkey takes)
 *   router/no-leases : `npm start` again with the pools' `leases: false` (every request asks the Durable Object)
 *   deno          : the Deno entry (src/adapter/deno/index.ts: Deno.serve, state in Deno KV, leases "auto"), Bedrock door
 *   deno/memory   : the same with ROUTER_STATE=memory (one instance)
 *   deno/no-leases : the Deno entry with Deno KV state and the pools' `leases: false` (a KV commit per attempt)
 *   portkey       : Portkey's gateway (Node), OpenAI chat format, Bedrock provider with a custom host
 *   floor         : the passthrough Worker in workerd (pre-signed): the runtime's cost before any router code
 *   deno/floor    : the passthrough Deno server (bench/deno-passthrough.ts, pre-signed): Deno's own cost
 * Shapes: a foundation-model ID and an inference-profile ID, a ~100-byte and an ~8 KB prompt, Converse and the
 * stream (ConverseStream / `stream: true`). Every path of a shape runs back to back in a rotating order, for `runs`
 * rounds; figures are medians over the rounds. Serving CPU per request = user + system time of the path's processes
 * (from /proc) over wrk's completed requests. Each path is first checked with one real request (status and shape).
 */
import { presignConverse } from './lib/presign'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { cpuOf, descendants, ROOT, spawnJson, type Child } from './lib/procs'
import { freePort, spawnPortkey, startSimulatorChild } from './overhead'
import { spawn, type ChildProcess } from 'node:child_process'

const KEY = 'bench-peer-key'
const FM = 'amazon.nova-lite-v1:0'
const IP = 'us.amazon.nova-lite-v1:0'
const SMALL = 'Say hello in one short sentence.'
const LARGE = 'Summarise the following notes in one sentence. ' + 'The deployment served the request from its primary region. '.repeat(136)

export type PeerPath = 'direct' | 'router' | 'router/openai' | 'router/no-leases' | 'deno' | 'deno/memory' | 'deno/no-leases' | 'portkey' | 'floor' | 'deno/floor' | 'deno/floor-kv'
export interface Shape {
  name: string
  model: string
  prompt: string
  stream: boolean
}
export const SHAPES: Shape[] = [
  { name: 'Converse, inference profile, 100 B prompt', model: IP, prompt: SMALL, stream: false },
  { name: 'Converse, foundation model, 100 B prompt', model: FM, prompt: SMALL, stream: false },
  { name: 'Converse, inference profile, 8 KB prompt', model: IP, prompt: LARGE, stream: false },
  { name: 'stream, inference profile, 100 B prompt', model: IP, prompt: SMALL, stream: true },
]

export interface WrkFigures {
  rps: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  socketErrors: number
  /** Serving processes' CPU per request (ms); the simulator's separately. */
  cpuMsPerRequest: number
  simCpuMsPerRequest: number
}

export interface PeerSection {
  connections: number
  durationS: number
  runs: number
  portkey: { available: boolean; reason?: string }
  /** shape name → path → median figures over the rounds. */
  shapes: Record<string, Partial<Record<PeerPath, WrkFigures>>>
  /** Concurrency 1, first shape: p50 per path (ms). */
  serial: Partial<Record<PeerPath, WrkFigures>>
  /** Rounds at concurrency 1 (every path once per round). */
  serialRounds?: number
  /** Concurrency 1: added p50 vs direct (ms), the median over rounds of the same-round difference. */
  serialAdded?: Partial<Record<PeerPath, number>>
  /** Paths a check request failed on, and why (their figures are left out). */
  failed: Record<string, string>
}

interface Target {
  url: string
  headers: Record<string, string>
  body: string
  /** What a real answer looks like (checked once before the load). */
  expect: (status: number, contentType: string, text: string) => string | undefined
  /** Processes that serve this path. */
  pids: () => number[]
}

function wrk(target: Target, connections: number, durationS: number, dir: string): Promise<string> {
  const script = join(dir, `wrk-${Math.random().toString(36).slice(2)}.lua`)
  const bodyFile = `${script}.body`
  writeFileSync(bodyFile, target.body)
  writeFileSync(
    script,
    [
      'wrk.method = "POST"',
      `local f = io.open(${JSON.stringify(bodyFile)}, "rb")`,
      'wrk.body = f:read("*a")',
      'f:close()',
      // wrk's Host names the port even when it is 80; a pre-signed request must carry the host it was signed with.
      `wrk.headers["Host"] = ${JSON.stringify(new URL(target.url).host)}`,
      ...Object.entries(target.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    ].join('\n'),
  )
  return new Promise((resolve, reject) =>
    execFile('wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '--timeout', '10s', '-s', script, target.url], { timeout: (durationS + 30) * 1000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  )
}

const toMs = (v: string, unit: string) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1)

export function parseWrk(out: string): Omit<WrkFigures, 'cpuMsPerRequest' | 'simCpuMsPerRequest'> {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out)
    return m ? toMs(m[1], m[2]) : NaN
  }
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: pct('50'),
    p99Ms: pct('99'),
    requests,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
  }
}

async function check(t: Target): Promise<string | undefined> {
  try {
    const res = await fetch(t.url, { method: 'POST', headers: t.headers, body: t.body, signal: AbortSignal.timeout(10_000) })
    return t.expect(res.status, res.headers.get('content-type') ?? '', await res.text())
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
}

const converseBody = (s: Shape) => JSON.stringify({ messages: [{ role: 'user', content: [{ text: s.prompt }] }], inferenceConfig: { maxTokens: 100 } })
const openaiBody = (s: Shape) => JSON.stringify({ model: s.model, messages: [{ role: 'user', content: s.prompt }], max_tokens: 100, ...(s.stream ? { stream: true } : {}) })
const bedrockAnswer = (s: Shape) => (status: number, type: string, text: string) =>
  status !== 200 ? `HTTP ${status}: ${text.slice(0, 200)}` : s.stream ? (type.includes('eventstream') && text.includes('messageStop') ? undefined : `not an event stream (${type})`) : text.includes('"output"') ? undefined : `not a Converse answer: ${text.slice(0, 200)}`
const openaiAnswer = (s: Shape) => (status: number, _type: string, text: string) =>
  status !== 200 ? `HTTP ${status}: ${text.slice(0, 200)}` : s.stream ? (text.includes('data: [DONE]') ? undefined : `not a chunk stream: ${text.slice(0, 200)}`) : text.includes('"choices"') ? undefined : `not a chat completion: ${text.slice(0, 200)}`


async function waitHealthy(url: string, timeoutMs: number) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(`${url}/health`).then((r) => (r.body?.cancel(), r.ok), () => false)
    if (ok) return
    if (Date.now() > until) throw new Error(`${url} did not become healthy`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function spawnDeno(env: Record<string, string>, script = 'src/adapter/deno/index.ts'): Promise<{ url: string; pid: number; proc: ChildProcess }> {
  const port = await freePort()
  const proc = spawn(join(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-net', '--allow-env', '--allow-read', '--allow-write', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DENO_DIR: process.env.DENO_DIR ?? '', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'ignore'],
  })
  const url = `http://127.0.0.1:${port}`
  await waitHealthy(url, 30_000)
  return { url, pid: proc.pid!, proc }
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)] : NaN
}

export async function runPeer(opts: { runs: number; durationS: number; connections: number; log: (line: string) => void }): Promise<PeerSection> {
  const hasWrk = await new Promise<boolean>((resolve) => execFile('wrk', ['--version'], (err) => resolve(!err || (err as NodeJS.ErrnoException).code !== 'ENOENT')))
  if (!hasWrk) throw new Error('wrk is not installed (Debian: apt-get install wrk); the fetch-based comparison of §1–2 still ran')
  const dir = mkdtempSync(join(tmpdir(), 'bench-peer-'))
  mkdirSync(dir, { recursive: true })
  const failed: Record<string, string> = {}
  let sim: Child<{ endpoints: Record<string, string>; controlUrl: string; pid: number }>
  let portkeyReason: string | undefined
  try {
    sim = await startSimulatorChild(80)
  } catch (e) {
    portkeyReason = `the simulator could not take 127.0.0.1:80, which Portkey's SigV4 needs (${e instanceof Error ? e.message : String(e)})`
    sim = await startSimulatorChild()
  }
  const endpoint = sim.info.endpoints['us-east-1']
  const pools = {
    fm: { deployments: [{ id: 'fm-us-east-1', modelId: FM, region: 'us-east-1', endpoint }] },
    ip: { deployments: [{ id: 'ip-us-east-1', modelId: IP, region: 'us-east-1', endpoint }] },
  }
  const routerEnv = { ROUTER_CONFIG: JSON.stringify({ pools }), ROUTER_API_KEYS: KEY, AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY }
  const stops: Array<() => Promise<void> | void> = [() => sim.stop()]
  try {
    const router = await spawnJson<{ url: string; pid: number }>(['--import', 'tsx'], 'bench/router-process.ts', [], { env: { BENCH_WORKER: 'router', BENCH_ROUTER_VARS: JSON.stringify(routerEnv) } })
    stops.push(() => router.stop())
    const floor = await spawnJson<{ url: string; pid: number }>(['--import', 'tsx'], 'bench/router-process.ts', [], { env: { BENCH_WORKER: 'passthrough', BENCH_UPSTREAM: endpoint } })
    stops.push(() => floor.stop())
    const kvPath = join(dir, 'router.kv')
    const deno = await spawnDeno({ ...routerEnv, ROUTER_KV_PATH: kvPath })
    stops.push(() => void deno.proc.kill('SIGTERM'))
    const denoMemory = await spawnDeno({ ...routerEnv, ROUTER_STATE: 'memory' })
    stops.push(() => void denoMemory.proc.kill('SIGTERM'))
    const unleased = Object.fromEntries(Object.entries(pools).map(([name, p]) => [name, { ...p, leases: false }]))
    const routerUnleased = await spawnJson<{ url: string; pid: number }>(['--import', 'tsx'], 'bench/router-process.ts', [], {
      env: { BENCH_WORKER: 'router', BENCH_ROUTER_VARS: JSON.stringify({ ...routerEnv, ROUTER_CONFIG: JSON.stringify({ pools: unleased }) }) },
    })
    stops.push(() => routerUnleased.stop())
    const denoUnleased = await spawnDeno({ ...routerEnv, ROUTER_CONFIG: JSON.stringify({ pools: unleased }), ROUTER_KV_PATH: join(dir, 'router-unleased.kv') })
    stops.push(() => void denoUnleased.proc.kill('SIGTERM'))
    const denoFloor = await spawnDeno({ UPSTREAM: endpoint }, 'bench/deno-passthrough.ts')
    stops.push(() => void denoFloor.proc.kill('SIGTERM'))
    const denoFloorKv = await spawnDeno({ UPSTREAM: endpoint, KV_PATH: join(dir, 'floor.kv') }, 'bench/deno-passthrough.ts')
    stops.push(() => void denoFloorKv.proc.kill('SIGTERM'))
    let portkey: { pid: number; url: string; stop: () => Promise<void> } | undefined
    if (!portkeyReason) {
      try {
        portkey = await spawnPortkey(await freePort())
        stops.push(() => portkey!.stop())
      } catch (e) {
        portkeyReason = `Portkey's server did not start: ${e instanceof Error ? e.message : String(e)}`
      }
    }
    const tree = (pid: number) => () => [pid, ...descendants(pid)]
    const targetsFor = async (s: Shape): Promise<Partial<Record<PeerPath, Target>>> => {
      const direct = await presignConverse(endpoint, s.model, s.stream ? 'converse-stream' : 'converse', converseBody(s))
      const bedrockPath = `/model/${encodeURIComponent(s.model)}/${s.stream ? 'converse-stream' : 'converse'}`
      const accept = s.stream ? 'application/vnd.amazon.eventstream' : 'application/json'
      const routerHeaders = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept }
      const out: Partial<Record<PeerPath, Target>> = {
        direct: { url: direct.url, headers: direct.headers, body: converseBody(s), expect: bedrockAnswer(s), pids: () => [] },
        router: { url: `${router.info.url}${bedrockPath}`, headers: routerHeaders, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(router.pid) },
        'router/openai': { url: `${router.info.url}/v1/chat/completions`, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: openaiBody(s), expect: openaiAnswer(s), pids: tree(router.pid) },
        'router/no-leases': { url: `${routerUnleased.info.url}${bedrockPath}`, headers: routerHeaders, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(routerUnleased.pid) },
        deno: { url: `${deno.url}${bedrockPath}`, headers: routerHeaders, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(deno.pid) },
        'deno/memory': { url: `${denoMemory.url}${bedrockPath}`, headers: routerHeaders, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(denoMemory.pid) },
        'deno/no-leases': { url: `${denoUnleased.url}${bedrockPath}`, headers: routerHeaders, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(denoUnleased.pid) },
        floor: { url: `${floor.info.url}${bedrockPath}`, headers: direct.headers, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(floor.pid) },
        'deno/floor': { url: `${denoFloor.url}${bedrockPath}`, headers: direct.headers, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(denoFloor.pid) },
        'deno/floor-kv': { url: `${denoFloorKv.url}${bedrockPath}`, headers: direct.headers, body: converseBody(s), expect: bedrockAnswer(s), pids: tree(denoFloorKv.pid) },
      }
      if (portkey) {
        out.portkey = {
          url: `${portkey.url}/v1/chat/completions`,
          headers: {
            'content-type': 'application/json',
            'x-portkey-provider': 'bedrock',
            'x-portkey-custom-host': endpoint,
            'x-portkey-aws-access-key-id': DEMO_ACCESS_KEY_ID,
            'x-portkey-aws-secret-access-key': DEMO_SECRET_ACCESS_KEY,
            'x-portkey-aws-region': 'us-east-1',
          },
          body: openaiBody(s),
          expect: openaiAnswer(s),
          pids: tree(portkey.pid),
        }
      }
      return out
    }
    const measure = async (t: Target, connections: number, durationS: number): Promise<WrkFigures> => {
      const pids = t.pids()
      const cpu0 = cpuOf(pids)
      const sim0 = cpuOf([sim.pid])
      const figures = parseWrk(await wrk(t, connections, durationS, dir))
      const served = Math.max(1, figures.requests)
      return { ...figures, cpuMsPerRequest: pids.length ? (cpuOf(pids) - cpu0) / served : NaN, simCpuMsPerRequest: (cpuOf([sim.pid]) - sim0) / served }
    }
    const shapes: PeerSection['shapes'] = {}
    const rounds: Record<string, Partial<Record<PeerPath, WrkFigures[]>>> = {}
    const targets = new Map<string, Partial<Record<PeerPath, Target>>>()
    for (const s of SHAPES) {
      const ts = await targetsFor(s)
      for (const [path, t] of Object.entries(ts) as Array<[PeerPath, Target]>) {
        // The floor forwards a pre-signed Converse only; it stands beside the first shape (the runtime's cost of a plain proxied request).
        if ((path === 'floor' || path === 'deno/floor' || path === 'deno/floor-kv') && s !== SHAPES[0]) {
          delete ts[path]
          continue
        }
        const problem = await check(t)
        if (problem) {
          failed[`${s.name} · ${path}`] = problem
          delete ts[path]
        }
      }
      targets.set(s.name, ts)
      rounds[s.name] = {}
    }
    for (let run = 0; run < opts.runs; run++) {
      for (const s of SHAPES) {
        // Signed afresh each round (the simulator, like Bedrock, refuses a signature older than 15 minutes).
        const fresh = await targetsFor(s)
        const ts = Object.fromEntries(Object.keys(targets.get(s.name)!).map((p) => [p, fresh[p as PeerPath]!])) as Partial<Record<PeerPath, Target>>
        const paths = Object.keys(ts) as PeerPath[]
        const order = paths.map((_, i) => paths[(i + run) % paths.length])
        for (const path of order) {
          await measure(ts[path]!, opts.connections, 1) // warm-up
          const f = await measure(ts[path]!, opts.connections, opts.durationS)
          ;(rounds[s.name][path] ??= []).push(f)
        }
        opts.log(`  run ${run + 1}, ${s.name}: ${order.map((p) => `${p} ${rounds[s.name][p]!.at(-1)!.rps.toFixed(0)}/s`).join(', ')}`)
      }
    }
    const med = (fs: WrkFigures[]): WrkFigures => ({
      rps: median(fs.map((f) => f.rps)),
      p50Ms: median(fs.map((f) => f.p50Ms)),
      p99Ms: median(fs.map((f) => f.p99Ms)),
      requests: fs.reduce((n, f) => n + f.requests, 0),
      non2xx: fs.reduce((n, f) => n + f.non2xx, 0),
      socketErrors: fs.reduce((n, f) => n + f.socketErrors, 0),
      cpuMsPerRequest: median(fs.map((f) => f.cpuMsPerRequest)),
      simCpuMsPerRequest: median(fs.map((f) => f.simCpuMsPerRequest)),
    })
    for (const s of SHAPES) shapes[s.name] = Object.fromEntries(Object.entries(rounds[s.name]).map(([p, fs]) => [p, med(fs!)]))
    // Concurrency 1: added latency per request, first shape.
    const serial: PeerSection['serial'] = {}
    const fresh = await targetsFor(SHAPES[0])
    const first = Object.fromEntries(Object.keys(targets.get(SHAPES[0].name)!).map((p) => [p, fresh[p as PeerPath]!])) as Partial<Record<PeerPath, Target>>
    // At concurrency 1 a single busy moment moves a p50 by more than a hop costs, so the added latency is paired:
    // each round measures every path once (rotating order), and a path's added p50 is the median over rounds of its
    // p50 minus direct's p50 in the same round — not the difference of two medians taken at different times.
    const serialRuns: Partial<Record<PeerPath, WrkFigures[]>> = {}
    const serialRounds = Math.max(5, opts.runs)
    for (let run = 0; run < serialRounds; run++) {
      const paths = Object.keys(first) as PeerPath[]
      for (const path of paths.map((_, i) => paths[(i + run) % paths.length])) {
        await measure(first[path]!, 1, 1) // warm-up, as at 32 connections: a steady client's figures, not a cold start's
        ;(serialRuns[path] ??= []).push(await measure(first[path]!, 1, Math.max(2, Math.round(opts.durationS / 2))))
      }
    }
    for (const [p, fs] of Object.entries(serialRuns)) serial[p as PeerPath] = med(fs!)
    const serialAdded: PeerSection['serialAdded'] = {}
    const directRuns = serialRuns.direct ?? []
    for (const [p, fs] of Object.entries(serialRuns) as Array<[PeerPath, WrkFigures[]]>) {
      if (p !== 'direct' && directRuns.length === fs.length) serialAdded[p] = median(fs.map((f, i) => f.p50Ms - directRuns[i].p50Ms))
    }
    opts.log(`  concurrency 1, p50: ${Object.entries(serial).map(([p, f]) => `${p} ${f!.p50Ms.toFixed(2)} ms`).join(', ')}`)
    return { connections: opts.connections, durationS: opts.durationS, runs: opts.runs, portkey: { available: Boolean(portkey), reason: portkeyReason }, shapes, serial, serialRounds, serialAdded, failed }
  } finally {
    for (const stop of stops.reverse()) await stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
