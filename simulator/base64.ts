/** Base64 of bytes and text on `btoa`/`atob` (no Node `Buffer`: the handler also runs in workerd and Deno). */

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  // In slices, so a long stream event does not overflow the argument list of fromCharCode.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export const textToBase64 = (text: string): string => bytesToBase64(new TextEncoder().encode(text))

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** The UTF-8 text behind a base64 string, or undefined when it is not base64 (or not UTF-8). */
export function base64ToText(b64: string): string | undefined {
  const clean = b64.replace(/\s+/g, '')
  if (!BASE64.test(clean) || clean.length % 4 === 1) return undefined
  try {
    const binary = atob(clean)
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    return undefined
  }
}
