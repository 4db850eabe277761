/**
 * `npm test`: the type check, vitest (both projects), the Deno tests — then the secret sweep. Every step's output
 * is shown as it runs and kept; the workers' output (ROUTER_OUTPUT_LOG, scripts/router-runtime.ts) and the answers
 * the node tests read over fetch (ROUTER_SWEEP_DIR, test/setup/record-responses.ts) are kept beside it. Afterwards
 * all of it is searched for every secret the suite uses (test/support/secrets.ts): one hit fails the run.
 */
import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SUITE_SECRETS } from '../test/support/secrets'
import { findLeaks } from './secret-sweep'

const dir = mkdtempSync(join(tmpdir(), 'router-sweep-'))
const env = { ...process.env, ROUTER_SWEEP_DIR: dir, ROUTER_OUTPUT_LOG: join(dir, 'workers.log') }
// Extra arguments go to vitest (`npm test -- src/routing` runs those tests, then the sweep over what they produced).
const only = process.argv.slice(2)

function run(name: string, command: string, args: string[]): Promise<number> {
  const file = join(dir, `${name}.log`)
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['inherit', 'pipe', 'pipe'] })
    child.stdout.on('data', (c: Buffer) => (process.stdout.write(c), appendFileSync(file, c)))
    child.stderr.on('data', (c: Buffer) => (process.stderr.write(c), appendFileSync(file, c)))
    child.on('close', (code) => resolve(code ?? 1))
  })
}

const steps: Array<[string, string, string[]]> = only.length
  ? [['vitest', 'npx', ['vitest', 'run', ...only]]]
  : [
      ['tsc', 'npx', ['tsc', '--noEmit']],
      ['vitest', 'npx', ['vitest', 'run']],
      ['deno', 'npm', ['run', '--silent', 'test:deno']],
    ]
let failed = false
for (const [name, command, args] of steps) {
  if ((await run(name, command, args)) !== 0) {
    failed = true
    break
  }
}

if (!failed) {
  const files = readdirSync(dir)
  let bytes = 0
  const leaks = files.flatMap((f) => {
    const text = readFileSync(join(dir, f), 'utf8')
    bytes += text.length
    return findLeaks(text, f, SUITE_SECRETS)
  })
  const size = (prefix: string) => files.filter((f) => f.startsWith(prefix)).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
  const kb = (n: number) => `${Math.round(n / 1024)} KB`
  // A sweep that captured nothing proves nothing: the workers' output and the answers must both be there.
  const captured = only.length > 0 || (size('workers') > 1000 && size('responses-') > 10_000)
  console.log(
    `\nsecret sweep: ${Object.keys(SUITE_SECRETS).length} secrets (as is, URL-encoded, base64 and base64url at every alignment) searched in ${files.length} files, ${kb(bytes)} ` +
      `(test output, workers' output ${kb(size('workers'))}, answers read ${kb(size('responses-'))}): ${leaks.length} found`,
  )
  for (const l of leaks.slice(0, 20)) console.log(`  LEAK ${l.secret} (${l.form}) in ${l.file}: …${l.context}…`)
  if (!captured) console.log('  the sweep captured too little (workers\' output or answers missing): it cannot pass')
  failed = leaks.length > 0 || !captured
}
if (!failed && !process.env.ROUTER_SWEEP_KEEP) rmSync(dir, { recursive: true, force: true })
else console.log(`(kept for inspection: ${dir})`)
process.exit(failed ? 1 : 0)
