/**
 * `npm start` as a user runs it: the script itself in a child process (demo mode, no config), read from its
 * console — a routed Converse through the URL it announces, and a clear refusal when its port is taken.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'

const ROOT = join(__dirname, '..', '..')
const children: ChildProcess[] = []

function start(env: Record<string, string>) {
  // Only the machine's environment: no router settings leak in from the test run.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ROUTER_') && !k.startsWith('AWS_')))
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/start.ts'], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  child.stdout!.on('data', (c: Buffer) => (out += c))
  child.stderr!.on('data', (c: Buffer) => (out += c))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  /** Resolves with the console text once `pattern` appears in it (or the process ends without it). */
  const printed = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => pattern.test(out) && (clearInterval(timer), resolve(out))
      const timer = setInterval(check, 50)
      exited.then(() => (clearInterval(timer), pattern.test(out) ? resolve(out) : reject(new Error(`exited without ${pattern}:\n${out}`))))
    })
  return { child, exited, printed, output: () => out }
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})

test('demo mode: the announced URL routes a Converse to the built-in simulator, and SIGTERM stops it', async () => {
  const run = start({ PORT: '0' })
  const text = await run.printed(/demo client key:\s+(\S+)/)
  const url = /listening on (http:\/\/\S+)/.exec(text)![1]
  const key = /demo client key:\s+(\S+)/.exec(text)![1]
  expect(new URL(url).hostname).toBe('127.0.0.1')
  const res = await fetch(`${url}/model/demo/converse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] }),
  })
  expect(res.status).toBe(200)
  const body = (await res.json()) as { output: { message: { content: Array<{ text: string }> } } }
  expect(body.output.message.content[0].text.length).toBeGreaterThan(0)
  expect(res.headers.get('x-router-deployment')).toBeTruthy()
  // tsx relays the signal and reports it (143); what matters is that the router is gone with it.
  run.child.kill('SIGTERM')
  await run.exited
  await expect(fetch(`${url}/health`)).rejects.toThrow()
}, 60_000)

test('a port already in use: one clear line and exit 1, before workerd tries to bind', async () => {
  const holder: Server = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const port = (holder.address() as { port: number }).port
  try {
    const run = start({ PORT: String(port) })
    expect(await run.exited).toBe(1)
    expect(run.output()).toContain(`127.0.0.1:${port} is already in use`)
    // workerd never started, so none of its own fatal bind output.
    expect(run.output()).not.toMatch(/workerd|ERR_RUNTIME_FAILURE|Address already in use/)
  } finally {
    await new Promise((resolve) => holder.close(resolve))
  }
}, 60_000)
