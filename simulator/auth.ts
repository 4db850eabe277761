/** Request authentication: SigV4 (see ./sigv4-verify), `Authorization: Bearer <API key>`, or none. */
import { awsError, type AwsError } from './errors'
import { parseSigV4Authorization, verifySigV4, type ReceivedRequest } from './sigv4-verify'
import type { AuthSummary, Credential } from './types'

export interface AuthSettings {
  credentials: Record<string, Credential>
  apiKeys: ReadonlySet<string>
  requireAuth: boolean
  /** ms, for the SigV4 clock-skew check. */
  now: number
}

export type AuthOutcome = { summary: AuthSummary; error?: AwsError }

export const SIGNING_SERVICE = 'bedrock'

export function keyHint(key: string): string {
  return key.length <= 8 ? '…' : `…${key.slice(-4)}`
}

export async function authenticate(req: ReceivedRequest, region: string, s: AuthSettings): Promise<AuthOutcome> {
  const header = req.headers.get('authorization')
  if (header === null || header.trim() === '') {
    if (!s.requireAuth) return { summary: { scheme: 'none' } }
    return { summary: { scheme: 'none' }, error: awsError(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token') }
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)
  if (bearer) {
    const summary: AuthSummary = { scheme: 'bearer', keyHint: keyHint(bearer[1]) }
    if (s.apiKeys.has(bearer[1])) return { summary }
    return { summary, error: awsError(403, 'UnrecognizedClientException', 'Authentication failed: Please make sure your API Key is valid.') }
  }
  const parsed = parseSigV4Authorization(header)
  const summary: AuthSummary =
    typeof parsed === 'string'
      ? { scheme: 'none' }
      : { scheme: 'sigv4', accessKeyId: parsed.accessKeyId, date: parsed.scope[0], region: parsed.scope[1], service: parsed.scope[2] }
  const result = await verifySigV4(req, { region, service: SIGNING_SERVICE, credentials: s.credentials, now: s.now })
  return result.ok ? { summary } : { summary, error: result.error }
}
