/** Base64 ⇄ UTF-8 text, as Bedrock's JSON blobs hold it (CountTokens bodies, InvokeModel stream chunks). */

/** Base64 of text as UTF-8. */
export function utf8ToBase64(text: string): string {
  return bytesToBase64(new TextEncoder().encode(text))
}

/** Base64 of bytes, in slices so a large blob cannot overflow the call stack. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

/** The runtime's own decoder where it has one (TC39 Uint8Array.fromBase64: workerd, Deno, Node ≥ 25). */
const nativeFromBase64 = (Uint8Array as unknown as { fromBase64?: (b64: string) => Uint8Array }).fromBase64

/**
 * The bytes inside base64; throws on invalid base64. Called once per InvokeModel stream chunk: `Uint8Array.from` with
 * a mapping callback cost ~11 µs per chunk in workerd (a callback per byte), the native decoder or a plain loop far less.
 */
export function base64ToBytes(b64: string): Uint8Array {
  return nativeFromBase64 ? nativeFromBase64.call(Uint8Array, b64) : base64ToBytesPortable(b64)
}

/** base64ToBytes where the runtime has no Uint8Array.fromBase64 (exported for the tests that compare the two). */
export function base64ToBytesPortable(b64: string): Uint8Array {
  const binary = atob(b64)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

const decoder = new TextDecoder()

/** The UTF-8 text inside base64; throws on invalid base64 (callers treat that as "not what was expected"). */
export function base64ToUtf8(b64: string): string {
  return decoder.decode(base64ToBytes(b64))
}

/** A JSON object from its text, or undefined when the text is not one. */
export function jsonObject(text: string): Record<string, any> | undefined {
  try {
    const parsed = JSON.parse(text)
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}
