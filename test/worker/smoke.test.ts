import { exports } from 'cloudflare:workers'
import { expect, it, inject } from 'vitest'
it('runs in workerd', async () => {
  const res = await exports.default.fetch('http://x/')
  expect(await res.text()).toBe('ok')
  expect(inject('simulatorUrl')).toContain('127.0.0.1')
  expect(typeof navigator.userAgent).toBe('string')
})
