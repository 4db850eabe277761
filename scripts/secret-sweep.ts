/**
 * The secret sweep: searches text for secrets — as they are, URL-encoded and base64-encoded (a Basic header, a
 * token's payload) — and says where each hit is without repeating the secret. Used by scripts/test.ts on
 * everything the test suite produced.
 */
export interface Leak {
  secret: string
  form: string
  file: string
  /** The text around the hit, the secret itself replaced by ‹name›. */
  context: string
}

function forms(value: string): Array<[string, string]> {
  const out: Array<[string, string]> = [['as is', value]]
  const url = encodeURIComponent(value)
  if (url !== value) out.push(['URL-encoded', url])
  out.push(['base64', Buffer.from(value).toString('base64').replace(/=+$/, '')])
  return out
}

export function findLeaks(text: string, file: string, secrets: Record<string, string>): Leak[] {
  const leaks: Leak[] = []
  for (const [name, value] of Object.entries(secrets)) {
    const all = forms(value)
    for (const [form, needle] of all) {
      let at = text.indexOf(needle)
      while (at !== -1 && leaks.length < 50) {
        let context = text.slice(Math.max(0, at - 80), at + needle.length + 80)
        for (const [, other] of all) context = context.split(other).join(`‹${name}›`)
        leaks.push({ secret: name, form, file, context: context.replace(/\s+/g, ' ') })
        at = text.indexOf(needle, at + needle.length)
      }
    }
  }
  return leaks
}
