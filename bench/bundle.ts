/**
 * Section 4: the deployable worker's size and startup.
 *   size    : `wrangler deploy --dry-run --outdir <tmp>` exactly as configured (wrangler.toml), gzipped here and as
 *             wrangler reports it; for reference the bundle `npm start` runs, and Portkey's published Node build.
 *   startup : a fresh workerd (Miniflare, as `npm start` starts it, Durable Object bound) until the first answered
 *             request, against the same for a one-line Worker, alternating, several times; the difference is what
 *             loading our script costs. Plus wrangler's own startup profile (`wrangler check startup`, alpha).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync, constants } from 'node:zlib'
import { Miniflare } from 'miniflare'
import { workerBundle } from '../scripts/router-runtime'
import { ROOT } from './lib/procs'
import { median } from './lib/stats'
import type { Readable } from 'node:stream'

export interface BuildSize {
  label: string
  command: string
  rawBytes: number
  gzipBytes: number
  /** What wrangler printed: "Total Upload: 99.26 KiB / gzip: 35.42 KiB". */
  wranglerLine?: string
  error?: string
}

export interface BundleSection {
  builds: BuildSize[]
  portkeyNodeBuild?: { rawBytes: number; gzipBytes: number }
  startup: {
    routerMs: number[]
    emptyMs: number[]
    routerMedianMs: number
    emptyMedianMs: number
    /** Median of per-pair differences. */
    addedMs: number
  }
  /** Sampled CPU time inside the script in wrangler's startup profile (coarse: ~1 ms samples). */
  wranglerStartupProfileMs?: number
  wranglerStartupError?: string
}

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as NodeJS.ErrnoException & { code?: number }).code as unknown as number) || 1 : 0, out: `${stdout}\n${stderr}` })
    })
  })
}

const WRANGLER = join(ROOT, 'node_modules', '.bin', 'wrangler')

async function wranglerBuild(label: string, extra: string[]): Promise<BuildSize & { dir?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-wrangler-'))
  const args = ['deploy', '--dry-run', '--outdir', dir, ...extra]
  const command = `npx wrangler ${args.join(' ').replace(dir, '<tmp>')}`
  const r = await run(WRANGLER, args)
  const main = join(dir, 'index.js')
  if (!existsSync(main)) {
    rmSync(dir, { recursive: true, force: true })
    return { label, command, rawBytes: NaN, gzipBytes: NaN, error: r.out.slice(-1500) }
  }
  // Everything wrangler would upload (the module and any extra modules), without source maps.
  let raw = 0
  const parts: Buffer[] = []
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.map') || name === 'README.md') continue
    const p = join(dir, name)
    if (!statSync(p).isFile()) continue
    const b = readFileSync(p)
    raw += b.length
    parts.push(b)
  }
  const gzipBytes = gzipSync(Buffer.concat(parts), { level: constants.Z_BEST_COMPRESSION }).length
  const wranglerLine = /Total Upload:[^\n]*/.exec(r.out)?.[0]?.trim()
  return { label, command, rawBytes: raw, gzipBytes, wranglerLine, dir }
}

/** Fresh workerd until the first answered request, ms. */
async function coldStart(script: string, withState: boolean): Promise<number> {
  const t0 = performance.now()
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2026-04-01',
    host: '127.0.0.1',
    port: 0,
    cf: false,
    bindings: { ROUTER_DEMO: 'bench' },
    durableObjects: withState ? { ROUTER_STATE: { className: 'RouterStateObject', useSQLite: true } } : {},
    handleRuntimeStdio: (stdout: Readable, stderr: Readable) => {
      stdout.resume()
      stderr.resume()
    },
  })
  try {
    const url = await mf.ready
    const res = await fetch(new URL('/health', url))
    await res.arrayBuffer()
    return performance.now() - t0
  } finally {
    await mf.dispose()
  }
}

/** The baseline: a one-line Worker with the same Durable Object binding (an empty class), so only our script differs. */
const EMPTY_WORKER = `import { DurableObject } from 'cloudflare:workers'
export class RouterStateObject extends DurableObject {}
export default { fetch() { return new Response('ok') } }`

export async function runBundle(opts: { startups: number; log: (s: string) => void }): Promise<BundleSection> {
  const builds: BuildSize[] = []
  const plain = await wranglerBuild('as deployed (wrangler.toml)', [])
  for (const b of [plain]) {
    const { dir, ...rest } = b
    builds.push(rest)
    opts.log(`  ${b.label}: ${(b.rawBytes / 1024).toFixed(1)} KiB raw, ${(b.gzipBytes / 1024).toFixed(1)} KiB gzip${b.wranglerLine ? ` (wrangler: ${b.wranglerLine})` : ''}${b.error ? ` ERROR ${b.error}` : ''}`)
  }
  const script = plain.dir && existsSync(join(plain.dir, 'index.js')) ? readFileSync(join(plain.dir, 'index.js'), 'utf8') : undefined
  if (plain.dir) rmSync(plain.dir, { recursive: true, force: true })
  // For reference: the bundle `npm start` and the end-to-end tests run (scripts/router-runtime.ts, esbuild --minify).
  try {
    const text = await workerBundle()
    const bytes = Buffer.from(text)
    builds.push({
      label: 'for reference: the bundle `npm start` runs',
      command: 'workerBundle() in scripts/router-runtime.ts (esbuild --minify)',
      rawBytes: bytes.length,
      gzipBytes: gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION }).length,
    })
  } catch (e) {
    builds.push({ label: 'for reference: the bundle `npm start` runs', command: 'workerBundle()', rawBytes: NaN, gzipBytes: NaN, error: e instanceof Error ? e.message : String(e) })
  }

  let portkeyNodeBuild: BundleSection['portkeyNodeBuild']
  const pk = join(ROOT, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js')
  if (existsSync(pk)) {
    const b = readFileSync(pk)
    portkeyNodeBuild = { rawBytes: b.length, gzipBytes: gzipSync(b, { level: constants.Z_BEST_COMPRESSION }).length }
  }

  const routerMs: number[] = []
  const emptyMs: number[] = []
  if (script) {
    await coldStart(EMPTY_WORKER, true) // warm the file cache and workerd binary
    for (let i = 0; i < opts.startups; i++) {
      emptyMs.push(await coldStart(EMPTY_WORKER, true))
      routerMs.push(await coldStart(script, true))
    }
    opts.log(`  cold start: router ${median(routerMs).toFixed(0)} ms, empty worker ${median(emptyMs).toFixed(0)} ms`)
  }

  // wrangler's startup profile (alpha): CPU samples inside the script while it is evaluated.
  let wranglerStartupProfileMs: number | undefined
  let wranglerStartupError: string | undefined
  const profDir = mkdtempSync(join(tmpdir(), 'bench-startup-'))
  try {
    const outfile = join(profDir, 'startup.cpuprofile')
    const r = await run(WRANGLER, ['check', 'startup', '--outfile', outfile])
    if (existsSync(outfile)) wranglerStartupProfileMs = profileScriptMs(JSON.parse(readFileSync(outfile, 'utf8')))
    else wranglerStartupError = r.out.slice(-800)
  } catch (e) {
    wranglerStartupError = e instanceof Error ? e.message : String(e)
  } finally {
    rmSync(profDir, { recursive: true, force: true })
  }

  const pairs = routerMs.map((r, i) => r - emptyMs[i])
  return {
    builds,
    portkeyNodeBuild,
    startup: { routerMs, emptyMs, routerMedianMs: median(routerMs), emptyMedianMs: median(emptyMs), addedMs: median(pairs) },
    wranglerStartupProfileMs,
    wranglerStartupError,
  }
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[]
  samples: number[]
  timeDeltas: number[]
}

/** Time covered by samples that are neither idle nor the root (each sample owns the delta to the next one), ms. */
function profileScriptMs(p: CpuProfile): number {
  const skip = new Set(p.nodes.filter((n) => ['(idle)', '(root)', '(program)'].includes(n.callFrame.functionName)).map((n) => n.id))
  let us = 0
  for (let i = 0; i < p.samples.length; i++) {
    if (skip.has(p.samples[i])) continue
    us += p.timeDeltas[i + 1] ?? 0
  }
  return us / 1000
}
