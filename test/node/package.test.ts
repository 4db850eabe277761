/**
 * The installable package: `npm pack` gives built JavaScript and declarations (no TypeScript sources); installed into an
 * empty folder, both subpaths import — `bedrock-edge-router/client` routes a Converse call to the simulator and
 * `bedrock-edge-router/strands` gives a RouterModel — and a TypeScript consumer with Node's own module resolution
 * type-checks against the declarations.
 */
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import type { Simulator } from './harness'

const ROOT = resolve(import.meta.dirname, '../..')
let dir: string
let sim: Simulator
let tarball: string
const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] })

beforeAll(async () => {
  sim = await startSimulator({ regions: ['us-east-1'] })
  dir = mkdtempSync(join(tmpdir(), 'ber-package-'))
  const printed = npm(['pack', '--json', '--pack-destination', dir], ROOT) // prepack builds pkg/ first
  const packed = JSON.parse(printed.slice(printed.search(/^\[/m))) as Array<{ filename: string; files: Array<{ path: string }> }>
  tarball = join(dir, packed[0].filename)
  files = packed[0].files.map((f) => f.path)
  const app = join(dir, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // Its dependencies come from npm's cache (npm ci filled it); the optional Strands peer is this repository's.
  npm(['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--legacy-peer-deps', '--ignore-scripts'], app)
  symlinkSync(join(ROOT, 'node_modules', '@strands-agents'), join(app, 'node_modules', '@strands-agents'), 'dir')
}, 240_000)
afterAll(async () => {
  await sim?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})
let files: string[] = []

it('packs built JavaScript and declarations, not TypeScript sources or tests', () => {
  expect(files).toContain('pkg/client/index.js')
  expect(files).toContain('pkg/client/index.d.ts')
  expect(files).toContain('pkg/strands/index.js')
  expect(files).toContain('pkg/adapter/cloudflare-workers/index.js')
  expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
  expect(files.filter((f) => /test/.test(f))).toEqual([])
  expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('simulator/'))).toEqual([])
})

it('installed into an empty folder: both subpaths import, and the client routes a call', async () => {
  const app = join(dir, 'app')
  writeFileSync(
    join(app, 'check.mjs'),
    `import { createRouter } from 'bedrock-edge-router/client'
import { RouterModel } from 'bedrock-edge-router/strands'
const router = createRouter({ deployments: [{ modelId: 'us.amazon.nova-lite-v1:0', region: 'us-east-1', endpoint: process.env.SIM }], credentials: { accessKeyId: process.env.AK, secretAccessKey: process.env.SK }, env: {} })
const out = await router.converse({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] })
const model = new RouterModel({ router, modelId: 'us.amazon.nova-lite-v1:0' })
console.log(JSON.stringify({ text: out.output.message.content[0].text, deployment: out.$router.deployment, model: model.getConfig().modelId }))
`,
  )
  // Asynchronously: the simulator answering it runs in this process.
  const { stdout: printed } = await promisify(execFile)(process.execPath, ['check.mjs'], { cwd: app, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SIM: sim.endpoints['us-east-1'], AK: DEMO_ACCESS_KEY_ID, SK: DEMO_SECRET_ACCESS_KEY } })
  const result = JSON.parse(printed.trim().split('\n').at(-1)!)
  expect(result.text).toMatch(/^Hello from us-east-1/)
  expect(result.deployment).toBe('us.amazon.nova-lite-v1:0-us-east-1')
  expect(result.model).toBe('us.amazon.nova-lite-v1:0')
})

it('a TypeScript consumer with Node’s module resolution type-checks against the declarations', () => {
  const app = join(dir, 'app')
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { createRouter, RouterError, type Router } from 'bedrock-edge-router/client'
import { RouterModel } from 'bedrock-edge-router/strands'
const router: Router = createRouter({ deployments: [{ modelId: 'm', region: 'us-east-1' }] })
export async function ask(): Promise<string | undefined> {
  try {
    const out = await router.converse({ messages: [{ role: 'user', content: [{ text: 'hi' }] }] })
    return out.$router.deployment
  } catch (e) {
    if (e instanceof RouterError) return e.name
    throw e
  }
}
export const model = new RouterModel({ router })
`,
  )
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true, noEmit: true, types: [], lib: ['es2022', 'dom'] }, files: ['consumer.ts'] }))
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', app], { encoding: 'utf8' })
})
