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

/**
 * The secret as is, URL-encoded, and base64/base64url-encoded at each of the three byte alignments it can have
 * inside a longer encoded text (`Basic id:secret`, a token payload): the characters that depend on the bytes
 * around it are dropped, what remains is in every encoding that contains the secret.
 */
function forms(value: string): Array<[string, string]> {
  const out: Array<[string, string]> = [['as is', value]]
  const url = encodeURIComponent(value)
  if (url !== value) out.push(['URL-encoded', url])
  const bytes = Buffer.from(value)
  for (let pad = 0; pad < 3; pad++) {
    const b64 = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64')
    // Characters covering the padding bytes or the end (mixed with whatever follows) are not the secret's alone.
    const start = pad === 0 ? 0 : Math.ceil((pad * 4) / 3)
    const end = Math.floor(((pad + bytes.length) * 4) / 3)
    const core = b64.slice(start, (pad + bytes.length) % 3 === 0 ? b64.length : end)
    if (core.length < 8) continue
    out.push([`base64 (offset ${pad})`, core])
    const urlSafe = core.replace(/\+/g, '-').replace(/\//g, '_')
    if (urlSafe !== core) out.push([`base64url (offset ${pad})`, urlSafe])
  }
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
