import { expect, it } from 'vitest'
import { findLeaks } from './secret-sweep'

const SECRETS = { 'the key': 'Sw33pTestSecret/abc+def' }

it('finds a secret as it is, URL-encoded and base64-encoded, and never repeats it', () => {
  const text = [
    'log: signing with Sw33pTestSecret/abc+def now',
    'url: /x?k=Sw33pTestSecret%2Fabc%2Bdef',
    `auth: Basic ${Buffer.from('Sw33pTestSecret/abc+def').toString('base64')}`,
  ].join('\n')
  const leaks = findLeaks(text, 'out.log', SECRETS)
  expect(leaks.map((l) => l.form)).toEqual(['as is', 'URL-encoded', 'base64 (offset 0)'])
  for (const l of leaks) {
    expect(l.file).toBe('out.log')
    expect(l.context).toContain('‹the key›')
    expect(l.context).not.toContain('Sw33pTestSecret')
  }
})

it('finds nothing in text without the secret, even near misses', () => {
  expect(findLeaks('Sw33pTestSecret/abc+de and Sw33pTestSecret/abc-def', 'x', SECRETS)).toEqual([])
})

it('shows no part of a secret cut by the context window', () => {
  const text = `${'x'.repeat(100)}Sw33pTestSecret/abc+def${'y'.repeat(78)}Sw33pTestSecret/abc+def`
  const [first] = findLeaks(text, 'x', SECRETS)
  expect(first.context).not.toMatch(/Sw33p|Sw/)
})

it('finds a secret base64-encoded inside a longer value, at any alignment, and base64url', () => {
  for (const prefix of ['', 'u:', 'id:', 'user:']) {
    for (const suffix of ['', 'x', '.yz']) {
      const plain = `${prefix}Sw33pTestSecret/abc+def${suffix}`
      const basic = `authorization: Basic ${Buffer.from(plain).toString('base64')}`
      expect(findLeaks(basic, 'h', SECRETS).length, basic).toBeGreaterThan(0)
      const jwtish = `token ${Buffer.from(plain).toString('base64url')}`
      expect(findLeaks(jwtish, 'h', SECRETS).length, jwtish).toBeGreaterThan(0)
    }
  }
  expect(findLeaks(`Basic ${Buffer.from('user:other-secret').toString('base64')}`, 'h', SECRETS)).toEqual([])
})
