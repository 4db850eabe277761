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
        // The window may end (or start) inside another occurrence: drop a partial secret at either edge.
        for (const [, other] of all) context = trimPartial(context, other)
        leaks.push({ secret: name, form, file, context: context.replace(/\s+/g, ' ') })
        at = text.indexOf(needle, at + needle.length)
      }
    }
  }
  return leaks
}

/** Removes a secret's prefix ending the text and its suffix starting it (any length). */
function trimPartial(text: string, secret: string): string {
  for (let n = Math.min(secret.length - 1, text.length); n >= 1; n--) {
    if (text.endsWith(secret.slice(0, n))) {
      text = text.slice(0, -n)
      break
    }
  }
  for (let n = Math.min(secret.length - 1, text.length); n >= 1; n--) {
    if (text.startsWith(secret.slice(-n))) {
      text = text.slice(n)
      break
    }
  }
  return text
}
