/**
 * Client keys declared in the config by their SHA-256 (hex), each with a name and a scope. The presented key is
 * hashed and compared with every declared digest in constant time, so neither which key matched nor how much of it
 * did leaks through timing; the config never holds a key itself.
 */
import type { ClientKeyConfig } from '../config/types'
import { equalDigests, keyDigest } from './api-keys'

/** The hex SHA-256 of a key, as `clients.keys[].sha256` declares it. */
export async function sha256Hex(text: string): Promise<string> {
  return Array.from(await keyDigest(text), (b) => b.toString(16).padStart(2, '0')).join('')
}

const fromHex = (hex: string) => Uint8Array.from({ length: hex.length / 2 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16))

const cache = new WeakMap<ClientKeyConfig[], Uint8Array[]>()

/** The declared key whose digest `presented` (keyDigest of the presented key) is, or undefined. Every one is compared. */
export function findScopedKey(keys: ClientKeyConfig[], presented: Uint8Array): ClientKeyConfig | undefined {
  if (keys.length === 0) return undefined
  let digests = cache.get(keys)
  if (!digests) cache.set(keys, (digests = keys.map((k) => fromHex(k.sha256))))
  let found: ClientKeyConfig | undefined
  for (let i = 0; i < digests.length; i++) if (equalDigests(presented, digests[i])) found = keys[i]
  return found
}
