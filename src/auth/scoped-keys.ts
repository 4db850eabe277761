/**
 * Client keys declared in the config by their SHA-256 (hex), each with a name and a scope. The presented key is
 * hashed and compared with every declared digest in constant time, so neither which key matched nor how much of it
 * did leaks through timing; the config never holds a key itself.
 */
import type { ClientKeyConfig } from '../config/types'

const encoder = new TextEncoder()

export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

const fromHex = (hex: string) => Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16))

const cache = new WeakMap<ClientKeyConfig[], Uint8Array[]>()

/** The declared key `presented` is, or undefined. Every declared digest is compared. */
export async function findScopedKey(keys: ClientKeyConfig[], presented: string): Promise<ClientKeyConfig | undefined> {
  if (keys.length === 0) return undefined
  let digests = cache.get(keys)
  if (!digests) cache.set(keys, (digests = keys.map((k) => fromHex(k.sha256))))
  const mine = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(presented)))
  let found: ClientKeyConfig | undefined
  for (let i = 0; i < digests.length; i++) {
    let diff = 0
    for (let j = 0; j < 32; j++) diff |= mine[j] ^ digests[i][j]
    if (diff === 0) found = keys[i]
  }
  return found
}
