/**
 * With ROUTER_SWEEP_DIR set (scripts/test.ts sets it), every answer a node-project test reads over fetch from
 * 127.0.0.1 is also appended to that directory, so the secret sweep searches the answers, not only the output.
 * Streams are left alone (a second reader would keep an upstream stream alive that a test means to cancel): their
 * bodies are covered by the tests that check them and by the workers' output.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.env.ROUTER_SWEEP_DIR
const streaming = /event-stream|eventstream/

if (dir) {
  const file = join(dir, `responses-${process.pid}.log`)
  const original = globalThis.fetch
  globalThis.fetch = async (input, init) => {
    const res = await original(input, init)
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    if (/^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(url) && !streaming.test(res.headers.get('content-type') ?? '') && res.body) {
      const lines: string[] = []
      res.headers.forEach((v, k) => void lines.push(`${k}: ${v}`))
      const headers = lines.join('\n')
      void res
        .clone()
        .text()
        .then((text) => appendFileSync(file, `--- ${res.status} ${url}\n${headers}\n\n${text}\n`))
        .catch(() => {})
    }
    return res
  }
}
