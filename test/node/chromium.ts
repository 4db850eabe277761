/**
 * The Chromium the browser test drives. A system Chromium if one is on PATH; otherwise the headless Chromium
 * that ships inside the `@sparticuz/chromium` npm package (Linux x64), so `npm install && npm test` needs
 * nothing installed besides Node. `TEST_CHROMIUM` overrides the lookup: `system` (a system browser only),
 * `npm` (the npm-shipped one only), or the path of an executable.
 *
 * The npm package stores the browser brotli-compressed, plus the few shared libraries it needs beyond glibc
 * (NSS, NSPR, expat; built for Amazon Linux 2023). We unpack both once per package version into
 * node_modules/.cache and point LD_LIBRARY_PATH at those libraries, so the browser starts on a machine
 * without them. The package's own `executablePath()` is not used: it reuses whatever `/tmp/chromium` holds
 * (another version, or a half-written file) and only unpacks the libraries on Amazon Linux.
 */
import { accessSync, constants, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter, dirname, join, normalize, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { brotliDecompressSync, createBrotliDecompress } from 'node:zlib'
import { chromium, type Browser } from 'playwright-core'

export interface ChromiumChoice {
  executablePath: string
  /** Where it came from, for messages: `system` or `@sparticuz/chromium <version>`. */
  source: string
  /** Extra environment for the browser process. */
  env?: Record<string, string>
}

const root = fileURLToPath(new URL('../..', import.meta.url))
/** Names a system Chromium or Chrome goes by on Linux (Debian: chromium; Ubuntu snaps: chromium-browser). */
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']
const MAC_APPS = ['/Applications/Chromium.app/Contents/MacOS/Chromium', '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome']
/** The flags the test needs: no sandbox (CI runs as root), no GPU, no calls home. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Picks the browser; throws at once, saying what to do, when there is none. */
export async function findChromium(env: Record<string, string | undefined> = process.env): Promise<ChromiumChoice> {
  const wanted = env.TEST_CHROMIUM?.trim() || 'auto'
  if (wanted !== 'auto' && wanted !== 'system' && wanted !== 'npm') {
    if (!isExecutable(wanted)) throw new Error(`TEST_CHROMIUM=${wanted} is not an executable file`)
    return { executablePath: wanted, source: 'TEST_CHROMIUM' }
  }
  if (wanted !== 'npm') {
    const found = systemChromium(env.PATH ?? '')
    if (found) return { executablePath: found, source: 'system' }
    if (wanted === 'system') throw new Error(`No system Chromium on PATH (looked for ${SYSTEM_NAMES.join(', ')}); unset TEST_CHROMIUM to use the npm-shipped one`)
  }
  return npmChromium(env)
}

/** Launches the chosen browser headless, failing within 30 s with the browser's own error if it cannot start. */
export async function launchChromium(env: Record<string, string | undefined> = process.env): Promise<{ browser: Browser; choice: ChromiumChoice }> {
  const choice = await findChromium(env)
  try {
    const browser = await chromium.launch({
      executablePath: choice.executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      env: { ...definedOnly(process.env), ...choice.env },
      timeout: 30_000,
    })
    return { browser, choice }
  } catch (e) {
    throw new Error(`Chromium (${choice.source}: ${choice.executablePath}) did not start: ${e instanceof Error ? e.message : String(e)}`)
  }
}

function systemChromium(path: string): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const name of SYSTEM_NAMES) {
      const candidate = join(dir, name)
      if (isExecutable(candidate)) return candidate
    }
  }
  if (process.platform === 'darwin') return MAC_APPS.find(isExecutable)
  return undefined
}

async function npmChromium(env: Record<string, string | undefined>): Promise<ChromiumChoice> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`No Chromium found: none on PATH, and @sparticuz/chromium ships one for Linux x64 only (this is ${process.platform} ${process.arch}). Install Chromium or Chrome, or set TEST_CHROMIUM to its path.`)
  }
  let entry: string
  try {
    entry = createRequire(import.meta.url).resolve('@sparticuz/chromium')
  } catch {
    throw new Error('No Chromium found: none on PATH, and @sparticuz/chromium is not installed (run npm install).')
  }
  const pkgDir = resolve(dirname(entry), '..', '..') // build/cjs/index.cjs → the package folder
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version
  const dir = join(root, 'node_modules', '.cache', `sparticuz-chromium-${version}`)
  if (!existsSync(join(dir, 'chromium'))) await unpack(join(pkgDir, 'bin'), dir)
  const libs = join(dir, 'lib')
  return {
    executablePath: join(dir, 'chromium'),
    source: `@sparticuz/chromium ${version}`,
    env: { LD_LIBRARY_PATH: env.LD_LIBRARY_PATH ? `${libs}${delimiter}${env.LD_LIBRARY_PATH}` : libs },
  }
}

/** Unpacks into a private folder, then renames it into place: a reader never sees a half-written browser. */
async function unpack(bin: string, dir: string) {
  for (const file of ['chromium.br', 'al2023.tar.br']) {
    if (!existsSync(join(bin, file))) throw new Error(`@sparticuz/chromium has no ${file} in ${bin}: its layout changed; update test/node/chromium.ts`)
  }
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  try {
    await pipeline(createReadStream(join(bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(join(tmp, 'chromium'), { mode: 0o755 }))
    for (const [name, data] of untar(brotliDecompressSync(readFileSync(join(bin, 'al2023.tar.br'))))) {
      mkdirSync(dirname(join(tmp, name)), { recursive: true })
      writeFileSync(join(tmp, name), data, { mode: 0o755 })
    }
    try {
      renameSync(tmp, dir)
    } catch (e) {
      if (!existsSync(join(dir, 'chromium'))) throw e // else another process unpacked it first: use theirs
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** The regular files of a ustar archive (the library bundle holds nothing else). */
export function untar(tar: Uint8Array): Array<[string, Uint8Array]> {
  const files: Array<[string, Uint8Array]> = []
  const text = (from: number, len: number) => new TextDecoder().decode(tar.subarray(from, from + len)).replace(/\0.*$/s, '')
  for (let at = 0; at + 512 <= tar.length; ) {
    // POSIX ustar (magic "ustar\0") may split a long name into prefix + name; GNU tar ("ustar  ") keeps
    // other fields there.
    const prefix = text(at + 257, 6) === 'ustar' ? text(at + 345, 155) : ''
    const name = prefix ? `${prefix}/${text(at, 100)}` : text(at, 100)
    if (!name) break // the two zero blocks that end the archive
    const size = parseInt(text(at + 124, 12).trim() || '0', 8)
    if (!Number.isFinite(size) || size < 0 || at + 512 + size > tar.length) throw new Error(`bad tar entry ${name}`)
    const type = text(at + 156, 1)
    const safe = normalize(name)
    if (safe.startsWith('..') || safe.startsWith('/')) throw new Error(`tar entry outside its folder: ${name}`)
    if (type === '' || type === '0') files.push([safe, tar.subarray(at + 512, at + 512 + size)])
    at += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined))
}
