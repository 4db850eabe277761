import { describe, expect, it } from 'vitest'
import { sanitizeErrorType } from '../routing/classify'
import { holdsSecrets, MAX_RELAYED_MESSAGE, REDACTED, redactSecrets } from './redact'

const SIGV4 =
  'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261201/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024'
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const SESSION = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDxyz0123456789abcdefABCDEF'

describe('redacting upstream text', () => {
  it('removes what a request was signed with, if an upstream echoes it', () => {
    const echoed = `bad request: authorization was ${SIGV4}; token ${SESSION}; key ${SECRET}`
    const out = redactSecrets(echoed)
    for (const leak of ['AKIAIOSFODNN7EXAMPLE', 'fe5f80f77d5fa3be', SECRET, SESSION, 'IQoJb3JpZ2luX2VjEJr']) expect(out).not.toContain(leak)
    expect(out).toContain('Signature=[redacted]')
    expect(out).toMatch(/^bad request: authorization was AWS4-HMAC-SHA256 Credential=\[redacted\]/)
    expect(redactSecrets('Authorization: Bearer bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg==')).toBe(`Authorization: Bearer ${REDACTED}`)
    expect(redactSecrets('jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTcifQ.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2Nzg5MA')).not.toContain('eyJzdWIiOiJ1c2VyLTcifQ')
    // Exact values given by the caller go too, whatever their shape.
    expect(redactSecrets('it was hunter2hunter2!', ['hunter2hunter2'])).toBe(`it was ${REDACTED}!`)
  })

  it('leaves Bedrock’s own messages alone, and caps length', () => {
    for (const msg of [
      'Too many requests, please wait before trying again.',
      'The provided model identifier is invalid.',
      'Malformed input request: #/messages/0/content/0: required key [text] not found, please reformat your input and try again.',
      'arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0 is not authorized',
      'request 9b2f6c1e-3c1a-4b7e-9f5d-2a6b8c0d1e2f failed',
    ]) {
      expect(redactSecrets(msg)).toBe(msg)
      expect(holdsSecrets(msg)).toBe(false)
    }
    const long = 'x '.repeat(5000)
    expect(redactSecrets(long).length).toBeLessThanOrEqual(MAX_RELAYED_MESSAGE + 1)
    expect(holdsSecrets(long)).toBe(true)
  })

  it('error-type names keep to Bedrock’s alphabet', () => {
    expect(sanitizeErrorType('ThrottlingException')).toBe('ThrottlingException')
    expect(sanitizeErrorType('ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/')).toBe('ThrottlingException')
    expect(sanitizeErrorType('com.amazon.coral.service#AccessDeniedException')).toBe('AccessDeniedException')
    expect(sanitizeErrorType('Evil\r\nSet-Cookie: x=1')).toBeUndefined()
    expect(sanitizeErrorType('<script>alert(1)</script>')).toBeUndefined()
    expect(sanitizeErrorType('a'.repeat(200))).toBeUndefined()
  })
})
