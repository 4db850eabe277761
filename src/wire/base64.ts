/** Base64 of text as UTF-8 (what Bedrock's JSON blobs hold), in slices so a large body cannot overflow the call stack. */
export function utf8ToBase64(text: string): string {
  const bytes = new TextEncoder().encode(text)
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
