/**
 * Upstream text the router passes on — an error's message, an exception frame's — goes to clients and to the log.
 * An upstream (or a proxy in front of it) that echoes the request would hand back what the router signed it with,
 * so such text is redacted of credential-shaped strings and capped in length before anyone sees it:
 *   - AWS access key IDs (AKIA…, ASIA…: 20 characters)
 *   - `Bearer …` values, `Signature=` / `Credential=` / `X-Amz-Security-Token=` values, JWTs (eyJ….…)
 *   - any run of 40 or more base64/hex characters holding both letters and digits (secret keys, session tokens,
 *     signatures, JWT segments, Bedrock API keys) — no word of an error message looks like that
 * and, when given, the exact values of the credentials used.
 */

export const REDACTED = '[redacted]'
/** Longest upstream message passed on, characters. */
export const MAX_RELAYED_MESSAGE = 1000

/** Long runs of key material; only those with both letters and digits are taken (see redactSecrets). */
const LONG_RUN = /[A-Za-z0-9+/=_-]{40,}/g
const PATTERNS: RegExp[] = [
  /\b(?:AKIA|ASIA|ABIA|ACCA|AROA|AIDA|AGPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b/g,
  /\b(Bearer|Basic)\s+[^\s"',;]+/gi,
  /\b(Signature|Credential|X-Amz-Security-Token|X-Amz-Credential|X-Amz-Signature)=[^\s"',;&]+/gi,
  /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g,
  LONG_RUN,
]

/** `text` without credential-shaped strings (nor the exact `secrets`), at most MAX_RELAYED_MESSAGE characters. */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text.length > 4 * MAX_RELAYED_MESSAGE ? text.slice(0, 4 * MAX_RELAYED_MESSAGE) : text
  for (const secret of secrets) if (secret && secret.length >= 8) out = out.split(secret).join(REDACTED)
  for (const re of PATTERNS) {
    out = out.replace(re, (match, label?: string) => {
      if (re === LONG_RUN && !(/[A-Za-z]/.test(match) && /[0-9]/.test(match))) return match
      return typeof label === 'string' && match.startsWith(label) ? `${label}${match[label.length] === '=' ? '=' : ' '}${REDACTED}` : REDACTED
    })
  }
  return out.length > MAX_RELAYED_MESSAGE ? `${out.slice(0, MAX_RELAYED_MESSAGE)}…` : out
}

/** Whether `text` would change under redaction (then it must not be relayed as it is). */
export function holdsSecrets(text: string, secrets: ReadonlyArray<string | undefined> = []): boolean {
  return redactSecrets(text, secrets) !== text.slice(0, MAX_RELAYED_MESSAGE) || text.length > MAX_RELAYED_MESSAGE
}
