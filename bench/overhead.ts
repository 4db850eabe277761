/**
 * Sections 1 and 2: added latency and throughput of the router, and of Portkey's gateway beside it.
 *
 * Every server runs in its own process beside this one (the load generator): the Bedrock simulator (Node), the
 * router (workerd via Miniflare, exactly as `npm start` runs it, Durable Object state store bound), Portkey's Node
 * server, and for attribution a few Workers run the same way. Every run measures, back to back and in a rotating
 * order, the same Converse request sent
 *   direct        : client → simulator (SigV4-signed once by the client; the simulator verifies it every time)
 *   router        : client → router (Bearer client key; weighted pool; signs SigV4; DO state) → simulator
 *   portkey       : client → Portkey (OpenAI chat format; Bedrock provider, custom host) → simulator (Converse, SigV4)
 *   floor         : client → a one-function passthrough Worker in the same runtime → simulator (pre-signed): what
 *                   workerd + Miniflare cost before any router code runs
 *   router-memory : the router with state in the isolate's memory (`noSharedState`): the DO round trips' cost
 *   router-nosave : the router with the DO bound but no SQLite write per call (bench-only variant): what the
 *                   write-through in src/state/durable-object.ts costs
 * and reports added latency (path − direct) and throughput ratios from the same run.
 */
import { presignConverse } from './lib/presign'
import net from 'node:net'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../simulator/demo-credentials'
import { probe, runLoad, type LoadResult, type LoadTarget } from './lib/loadgen'
import { cpuOf, descendants, processName, ROOT, spawnJson, stopChild, type Child } from './lib/procs'
import { median, percentile } from './lib/stats'

export const MODEL = 'us.amazon.nova-lite-v1:0'
const REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1']
const CLIENT_KEY = 'bench-client-key-0001'
const PROMPT = 'Write one short sentence about routers.'
const MAX_TOKENS = 200
export const PORTKEY_VERSION = '1.15.2'

export type TargetName = 'direct' | 'router' | 'portkey' | 'floor' | 'router-memory' | 'router-nosave'
export type StreamTargetName = 'direct' | 'floor' | 'router' | 'router-sse' | 'portkey'
export const VARIANTS: TargetName[] = ['router-memory', 'router-nosave']

export interface OverheadOptions {
  runs: number
  concurrency: number[]
  /** Requests per measured load, by concurrency. */
  requests: (c: number) => number
  warmup: (c: number) => number
  maxMs: number
  streamConcurrency: number[]
  streamRequests: (c: number) => number
  /** Concurrency levels at which the what-if variants (router-memory, router-nosave) are measured; [] = none. */
  variantConcurrency: number[]
  log: (line: string) => void
}

export interface LoadStats {
  p50: number
  p99: number
  rps: number
  completed: number
  errors: number
  capped: boolean
  /** CPU ms per completed request of the target's own processes (workerd / Portkey's node), from /proc. */
  cpuMsPerRequest: number
  /** CPU ms per request of the simulator process, for reference. */
  simCpuMsPerRequest: number
  /** Router only: median x-router-overhead-ms. */
  overheadHeaderP50?: number
  firstError?: string
}

export interface StreamStats {
  ttfbP50: number
  ttfbP99: number
  totalP50: number
  completed: number
  errors: number
  firstError?: string
}

export interface OverheadRun {
  load: Record<number, Partial<Record<TargetName, LoadStats>>>
  streams: Record<number, Partial<Record<StreamTargetName, StreamStats>>>
}

export interface OverheadResult {
  runs: OverheadRun[]
  portkey: { available: boolean; reason?: string; version: string }
  setup: {
    simulatorPort80: boolean
    routerProcesses: string[]
    requestBytes: { converse: number; openai: number }
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

async function waitFor(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < until) {
    try {
      const res = await fetch(url)
      if (res.ok) return
      last = `HTTP ${res.status}`
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (${last})`)
}

interface Setup {
  sim: Child<{ endpoints: Record<string, string>; controlUrl: string; pid: number }>
  /** router, floor and the variants: Workers in workerd via Miniflare, one process each. */
  workers: Partial<Record<TargetName, Child<{ url: string; pid: number }>>>
  portkey?: { pid: number; url: string; stop: () => Promise<void> }
  portkeyReason?: string
  port80: boolean
}

export async function startSimulatorChild(port?: number) {
  const child = await spawnJson<{ endpoints: Record<string, string>; controlUrl: string; pid: number; error?: string }>(
    ['--import', 'tsx'],
    'bench/sim-process.ts',
    [REGIONS.join(','), port === undefined ? '' : String(port)],
  )
  if (child.info.error) {
    await child.stop()
    throw new Error(child.info.error)
  }
  return child
}

async function setUp(log: (s: string) => void, withVariants: boolean): Promise<Setup> {
  // Portkey 1.15.2 signs SigV4 with the custom host's *hostname* only (generateAWSHeaders sets `host` to
  // `new URL(url).hostname`), while the HTTP client sends `host:port`: against any non-default port the signature
  // cannot verify. So the simulator's us-east-1 listener takes 127.0.0.1:80, where host and host:port coincide.
  let sim
  let port80 = true
  let portkeyReason: string | undefined
  try {
    if (process.env.BENCH_NO_PORT80 === '1') throw new Error('port 80 not tried (BENCH_NO_PORT80=1)')
    sim = await startSimulatorChild(80)
  } catch (e) {
    port80 = false
    portkeyReason =
      `Portkey ${PORTKEY_VERSION} signs SigV4 over the custom host's hostname without its port, so it only works against ` +
      `a simulator on port 80, and 127.0.0.1:80 could not be bound here (${e instanceof Error ? e.message : String(e)}; ` +
      'needs root, CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start ≤ 80)'
    log(`  simulator on :80 failed; Portkey comparison skipped: ${portkeyReason}`)
    sim = await startSimulatorChild()
  }
  const endpoints = sim.info.endpoints
  const config = {
    pools: {
      bench: {
        strategy: 'weighted',
        deployments: REGIONS.map((region, i) => ({
          id: `nova-${region}`,
          modelId: MODEL,
          region,
          endpoint: endpoints[region],
          weight: i === 0 ? 2 : 1,
        })),
      },
    },
  }
  const vars = JSON.stringify({
    ROUTER_CONFIG: JSON.stringify(config),
    ROUTER_API_KEYS: CLIENT_KEY,
    AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
  })
  const kinds: TargetName[] = ['router', 'floor', ...(withVariants ? VARIANTS : [])]
  const workers: Setup['workers'] = {}
  for (const kind of kinds) {
    workers[kind] = await spawnJson<{ url: string; pid: number }>(['--import', 'tsx'], 'bench/router-process.ts', [], {
      env: { BENCH_WORKER: kind === 'floor' ? 'passthrough' : kind, BENCH_ROUTER_VARS: vars, BENCH_UPSTREAM: endpoints['us-east-1'] },
    })
  }
  let portkey: Setup['portkey']
  if (port80) {
    try {
      const port = await freePort()
      const child = await spawnPortkey(port)
      portkey = child
    } catch (e) {
      portkeyReason = `Portkey's Node server did not start: ${e instanceof Error ? e.message : String(e)}`
      log(`  ${portkeyReason}`)
    }
  }
  return { sim, workers, portkey, portkeyReason, port80 }
}

export async function spawnPortkey(port: number): Promise<NonNullable<Setup['portkey']>> {
  const { spawn } = await import('node:child_process')
  const script = `${ROOT}/node_modules/@portkey-ai/gateway/build/start-server.js`
  const proc = spawn(process.execPath, ['--import', './bench/portkey-loopback.mjs', script, `--port=${port}`, '--headless'], {
    cwd: ROOT,
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
  let stderr = ''
  proc.stderr!.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-2000)
  })
  const url = `http://127.0.0.1:${port}`
  try {
    await Promise.race([
      waitFor(`${url}/`, 30000),
      new Promise((_, reject) => proc.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)))),
    ])
  } catch (e) {
    await stopChild(proc)
    throw e
  }
  return { pid: proc.pid!, url, stop: () => stopChild(proc) }
}

async function tearDown(s: Setup) {
  await s.portkey?.stop()
  for (const w of Object.values(s.workers)) await w?.stop()
  await s.sim.stop()
}

const converseBody = JSON.stringify({ messages: [{ role: 'user', content: [{ text: PROMPT }] }], inferenceConfig: { maxTokens: MAX_TOKENS } })
const openaiBody = (stream: boolean) =>
  JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: PROMPT }], max_tokens: MAX_TOKENS, ...(stream ? { stream: true } : {}) })

/** Signs once: the simulator verifies the signature on every request, the client pays nothing per request. */
async function signedDirect(endpoint: string, operation: 'converse' | 'converse-stream'): Promise<LoadTarget> {
  const { url, headers } = await presignConverse(endpoint, MODEL, operation, converseBody)
  return { url, headers: { 'content-length': String(Buffer.byteLength(converseBody)), ...headers }, body: converseBody }
}

function targets(s: Setup) {
  const routerHeaders = (accept: string) => ({
    authorization: `Bearer ${CLIENT_KEY}`,
    'content-type': 'application/json',
    accept,
    'content-length': String(Buffer.byteLength(converseBody)),
  })
  const portkeyHeaders = (stream: boolean) => ({
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(openaiBody(stream))),
    'x-portkey-provider': 'bedrock',
    'x-portkey-custom-host': s.sim.info.endpoints['us-east-1'],
    'x-portkey-aws-access-key-id': DEMO_ACCESS_KEY_ID,
    'x-portkey-aws-secret-access-key': DEMO_SECRET_ACCESS_KEY,
    'x-portkey-aws-region': 'us-east-1',
  })
  const routerAt = (base: string): LoadTarget => ({
    url: `${base}/model/bench/converse`,
    headers: routerHeaders('application/json'),
    body: converseBody,
    collectHeader: 'x-router-overhead-ms',
  })
  const base = s.workers.router!.info.url
  const router = routerAt(base)
  const routerMemory = s.workers['router-memory'] && routerAt(s.workers['router-memory'].info.url)
  const routerNosave = s.workers['router-nosave'] && routerAt(s.workers['router-nosave'].info.url)
  const routerStream: LoadTarget = { url: `${base}/model/bench/converse-stream`, headers: routerHeaders('application/vnd.amazon.eventstream'), body: converseBody }
  const routerSse: LoadTarget = { url: `${base}/model/bench/converse-stream`, headers: routerHeaders('text/event-stream'), body: converseBody }
  const portkey: LoadTarget | undefined = s.portkey && { url: `${s.portkey.url}/v1/chat/completions`, headers: portkeyHeaders(false), body: openaiBody(false) }
  const portkeyStream: LoadTarget | undefined = s.portkey && { url: `${s.portkey.url}/v1/chat/completions`, headers: portkeyHeaders(true), body: openaiBody(true) }
  return { router, routerMemory, routerNosave, routerStream, routerSse, portkey, portkeyStream }
}

function loadStats(r: LoadResult, cpuMs: number, simCpuMs: number): LoadStats {
  return {
    p50: percentile(r.latencies, 0.5),
    p99: percentile(r.latencies, 0.99),
    rps: r.rps,
    completed: r.completed,
    errors: r.errors,
    capped: r.capped,
    cpuMsPerRequest: r.completed > 0 ? cpuMs / r.completed : NaN,
    simCpuMsPerRequest: r.completed > 0 ? simCpuMs / r.completed : NaN,
    overheadHeaderP50: r.header.length ? median(r.header) : undefined,
    firstError: r.firstError,
  }
}

function streamStats(r: LoadResult): StreamStats {
  return {
    ttfbP50: percentile(r.firstByte, 0.5),
    ttfbP99: percentile(r.firstByte, 0.99),
    totalP50: percentile(r.latencies, 0.5),
    completed: r.completed,
    errors: r.errors,
    firstError: r.firstError,
  }
}

/** The floor: the pre-signed direct request, sent through the passthrough Worker instead. */
function viaFloor(direct: LoadTarget, floorUrl: string): LoadTarget {
  const u = new URL(direct.url)
  return { ...direct, url: `${floorUrl}${u.pathname}` }
}

export async function runOverhead(opts: OverheadOptions): Promise<OverheadResult> {
  const log = opts.log
  const s = await setUp(log, opts.variantConcurrency.length > 0)
  try {
    const t = targets(s)
    const direct = await signedDirect(s.sim.info.endpoints['us-east-1'], 'converse')
    const directStream = await signedDirect(s.sim.info.endpoints['us-east-1'], 'converse-stream')
    const floorUrl = s.workers.floor!.info.url
    // workerd runs as a child of Miniflare's process; count both (Miniflare's Node side also drains the log).
    const pidsOf = (name: TargetName) => {
      const w = s.workers[name]
      return w ? [w.pid, ...descendants(w.pid)] : []
    }
    const routerProcesses = pidsOf('router').map((p) => processName(p) || String(p))

    const loadTargets: Partial<Record<TargetName, LoadTarget>> = {
      direct,
      floor: viaFloor(direct, floorUrl),
      router: t.router,
      portkey: t.portkey,
      'router-memory': t.routerMemory,
      'router-nosave': t.routerNosave,
    }
    // Check every path answers correctly before loading it.
    for (const [name, target] of Object.entries(loadTargets) as [TargetName, LoadTarget | undefined][]) {
      if (!target) continue
      const r = await probe(target)
      if (r.status === 200) continue
      if (name === 'portkey') {
        s.portkeyReason = `Portkey answered HTTP ${r.status}: ${r.body.slice(0, 300)}`
        log(`  ${s.portkeyReason}`)
        await s.portkey?.stop()
        s.portkey = undefined
        t.portkeyStream = undefined
        delete loadTargets.portkey
        continue
      }
      throw new Error(`${name} answered HTTP ${r.status}: ${r.body.slice(0, 500)}`)
    }

    const cpuPids: Record<TargetName, number[]> = {
      direct: [],
      floor: pidsOf('floor'),
      router: pidsOf('router'),
      'router-memory': pidsOf('router-memory'),
      'router-nosave': pidsOf('router-nosave'),
      portkey: s.portkey ? [s.portkey.pid] : [],
    }
    const mainNames = (['direct', 'floor', 'router', 'portkey'] as TargetName[]).filter((n) => loadTargets[n])
    const streamTargets: Record<StreamTargetName, LoadTarget | undefined> = {
      direct: directStream,
      floor: viaFloor(directStream, floorUrl),
      router: t.routerStream,
      'router-sse': t.routerSse,
      portkey: t.portkeyStream,
    }
    const streamNames = (Object.keys(streamTargets) as StreamTargetName[]).filter((n) => streamTargets[n])

    const runs: OverheadRun[] = []
    for (let run = 0; run < opts.runs; run++) {
      const current: OverheadRun = { load: {}, streams: {} }
      for (const c of opts.concurrency) {
        current.load[c] = {}
        const names = [...mainNames, ...(opts.variantConcurrency.includes(c) ? VARIANTS.filter((n) => loadTargets[n]) : [])]
        // Rotate the order so no target always runs first (or last) on a noisy machine.
        const order = names.map((_, i) => names[(i + run + c) % names.length])
        for (const name of order) {
          const before = cpuOf(cpuPids[name])
          const simBefore = cpuOf([s.sim.pid])
          const r = await runLoad(loadTargets[name]!, { concurrency: c, requests: opts.requests(c), warmup: opts.warmup(c), maxMs: opts.maxMs })
          const stats = loadStats(r, cpuOf(cpuPids[name]) - before, cpuOf([s.sim.pid]) - simBefore)
          current.load[c][name] = stats
          log(
            `  run ${run + 1} c=${c} ${name.padEnd(13)} p50 ${stats.p50.toFixed(2)} ms  p99 ${stats.p99.toFixed(2)} ms  ${stats.rps.toFixed(0)} req/s  cpu ${stats.cpuMsPerRequest.toFixed(2)} ms/req` +
              `${stats.errors ? `  errors ${stats.errors} (${stats.firstError})` : ''}${stats.capped ? '  (time cap)' : ''}`,
          )
        }
      }
      for (const c of opts.streamConcurrency) {
        current.streams[c] = {}
        const order = streamNames.map((_, i) => streamNames[(i + run) % streamNames.length])
        for (const name of order) {
          const r = await runLoad(streamTargets[name]!, { concurrency: c, requests: opts.streamRequests(c), warmup: opts.warmup(c), maxMs: opts.maxMs })
          const stats = streamStats(r)
          current.streams[c][name] = stats
          log(`  run ${run + 1} stream c=${c} ${name.padEnd(10)} ttfb p50 ${stats.ttfbP50.toFixed(2)} ms  p99 ${stats.ttfbP99.toFixed(2)} ms${stats.errors ? `  errors ${stats.errors} (${stats.firstError})` : ''}`)
        }
      }
      runs.push(current)
    }
    return {
      runs,
      portkey: { available: !!s.portkey, reason: s.portkeyReason, version: PORTKEY_VERSION },
      setup: {
        simulatorPort80: s.port80,
        routerProcesses,
        requestBytes: { converse: Buffer.byteLength(converseBody), openai: Buffer.byteLength(openaiBody(false)) },
      },
    }
  } finally {
    await tearDown(s)
  }
}
