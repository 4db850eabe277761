/**
 * `npm run build:package` (and `npm pack`, through prepack): the installable package in pkg/ — src/ compiled to ESM
 * JavaScript with type declarations (tsc, tsconfig.package.json), then every relative import given the extension
 * Node's ESM resolution needs (`./engine` → `./engine.js`, `./client` → `./client/index.js`): the sources use
 * extensionless imports, which bundlers, workerd and Deno accept and Node does not.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'pkg')

rmSync(out, { recursive: true, force: true })
execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.package.json')], { stdio: 'inherit' })

const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*)\2/g

function withExtension(file: string, spec: string): string {
  if (/\.(m?js|json)$/.test(spec)) return spec
  const target = resolve(dirname(file), spec)
  if (existsSync(`${target}.js`)) return `${spec}.js`
  if (existsSync(join(target, 'index.js'))) return `${spec}/index.js`
  throw new Error(`${file}: cannot resolve ${spec}`)
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}

let rewritten = 0
for (const file of walk(out)) {
  if (!file.endsWith('.js') && !file.endsWith('.d.ts')) continue
  const text = readFileSync(file, 'utf8')
  const next = text.replace(SPECIFIER, (_m, lead: string, q: string, spec: string) => `${lead}${q}${withExtension(file, spec)}${q}`)
  if (next !== text) {
    writeFileSync(file, next)
    rewritten++
  }
}
console.error(`pkg/: ${walk(out).length} files, ${rewritten} with relative imports given extensions`)
