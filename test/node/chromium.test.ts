/** How the browser test finds its Chromium: system first, the npm-shipped one otherwise, and a clear error fast. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { findChromium, launchChromium, untar } from './chromium'

const dir = mkdtempSync(join(tmpdir(), 'chromium-lookup-'))
const empty = mkdtempSync(join(tmpdir(), 'chromium-lookup-empty-'))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  rmSync(empty, { recursive: true, force: true })
})

/** An executable named like a browser (lookup only; never launched as one unless a test says so). */
function fakeBrowser(name: string, script = '#!/bin/sh\nexit 1\n'): string {
  const file = join(dir, name)
  writeFileSync(file, script)
  chmodSync(file, 0o755)
  return file
}

describe('findChromium', () => {
  it('prefers a Chromium on PATH', async () => {
    const file = fakeBrowser('chromium')
    expect(await findChromium({ PATH: `${empty}:${dir}` })).toEqual({ executablePath: file, source: 'system' })
  })

  it('TEST_CHROMIUM=system fails at once, naming what it looked for, when PATH has none', async () => {
    await expect(findChromium({ PATH: empty, TEST_CHROMIUM: 'system' })).rejects.toThrow(/No system Chromium on PATH \(looked for chromium, chromium-browser/)
  })

  it('TEST_CHROMIUM=<path> must be an executable file', async () => {
    await expect(findChromium({ PATH: dir, TEST_CHROMIUM: join(dir, 'missing') })).rejects.toThrow(/is not an executable file/)
    await expect(findChromium({ PATH: dir, TEST_CHROMIUM: dir })).rejects.toThrow(/is not an executable file/)
  })

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('without a system browser: the one in @sparticuz/chromium, with its libraries', async () => {
    for (const env of [{ PATH: empty }, { PATH: dir, TEST_CHROMIUM: 'npm' }]) {
      const choice = await findChromium(env)
      expect(choice.source).toMatch(/^@sparticuz\/chromium \d+\.\d+\.\d+$/)
      expect(choice.executablePath).toMatch(/node_modules\/\.cache\/sparticuz-chromium-[\d.]+\/chromium$/)
      expect(choice.env?.LD_LIBRARY_PATH).toMatch(/sparticuz-chromium-[\d.]+\/lib$/)
    }
  })
})

describe('launchChromium', () => {
  it('a browser that cannot start fails within seconds, saying which one', async () => {
    const broken = fakeBrowser('broken-chrome', '#!/bin/sh\necho "cannot open shared object file" >&2\nexit 127\n')
    const started = Date.now()
    await expect(launchChromium({ PATH: empty, TEST_CHROMIUM: broken })).rejects.toThrow(`Chromium (TEST_CHROMIUM: ${broken}) did not start`)
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})

describe('untar', () => {
  const header = (name: string, size: number, type = '0') => {
    const h = new Uint8Array(512)
    const put = (at: number, s: string) => h.set(new TextEncoder().encode(s), at)
    put(0, name)
    put(124, size.toString(8).padStart(11, '0'))
    put(156, type)
    put(257, 'ustar\u000000')
    return h
  }
  const archive = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + Math.ceil(p.length / 512) * 512, 0) + 1024)
    let at = 0
    for (const p of parts) {
      out.set(p, at)
      at += Math.ceil(p.length / 512) * 512
    }
    return out
  }

  it('reads regular files, skips folders, stops at the end blocks', () => {
    const files = untar(archive(header('lib/', 0, '5'), header('lib/a.so', 3), new TextEncoder().encode('abc'), header('lib/b.so', 0)))
    expect(files.map(([name, data]) => [name, new TextDecoder().decode(data)])).toEqual([['lib/a.so', 'abc'], ['lib/b.so', '']])
  })

  it('refuses entries that escape the folder or run past the end', () => {
    expect(() => untar(archive(header('../evil.so', 0)))).toThrow(/outside its folder/)
    expect(() => untar(archive(header('lib/big.so', 4096)))).toThrow(/bad tar entry/)
  })
})
