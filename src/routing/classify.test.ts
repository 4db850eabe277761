import { describe, expect, it } from 'vitest'
import {
  classifyException,
  classifyHttp,
  classifyNetworkError,
  classifyTimeout,
  failoverAllowed,
  parseRetryAfter,
  sanitizeErrorType,
} from './classify'
import type { OutcomeClass } from './types'

describe('classifyHttp', () => {
  const matrix: [number, string | undefined, OutcomeClass][] = [
    [200, undefined, 'success'],
    [429, 'ThrottlingException', 'throttled'],
    [429, undefined, 'throttled'],
    [400, 'ServiceQuotaExceededException', 'throttled'],
    [429, 'ModelNotReadyException', 'unavailable'],
    [500, 'InternalServerException', 'unavailable'],
    [500, undefined, 'unavailable'],
    [502, undefined, 'unavailable'],
    [503, 'ServiceUnavailableException', 'unavailable'],
    [504, undefined, 'unavailable'],
    [424, 'ModelErrorException', 'unavailable'],
    [424, 'ModelStreamErrorException', 'unavailable'],
    [408, 'ModelTimeoutException', 'timeout'],
    [403, 'AccessDeniedException', 'misconfigured'],
    [404, 'ResourceNotFoundException', 'misconfigured'],
    [403, 'UnrecognizedClientException', 'misconfigured'],
    [403, 'InvalidSignatureException', 'misconfigured'],
    [403, 'ExpiredTokenException', 'misconfigured'],
    [401, undefined, 'unavailable'], // no Bedrock error name: not a verdict on the deployment's setup
    [403, undefined, 'unavailable'],
    [404, undefined, 'unavailable'],
    [200, 'UnknownOperationException', 'misconfigured'],
    [400, 'ValidationException', 'client'],
    [413, undefined, 'client'],
    [400, 'SomethingNewException', 'client'],
    [409, undefined, 'client'],
  ]
  for (const [status, type, cls] of matrix) {
    it(`${status} ${type ?? '(no type)'} → ${cls}`, () => {
      expect(classifyHttp(status, type).class).toBe(cls)
    })
  }

  it('sanitizes the X-Amzn-ErrorType header', () => {
    const r = classifyHttp(429, 'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/')
    expect(r).toMatchObject({ class: 'throttled', status: 429, errorType: 'ThrottlingException' })
    expect(sanitizeErrorType('aws.protocoltests#ValidationException:http://x')).toBe('ValidationException')
    expect(sanitizeErrorType('com.amazon.coral.service#AccessDeniedException')).toBe('AccessDeniedException')
    expect(sanitizeErrorType('')).toBeUndefined()
    expect(sanitizeErrorType(null)).toBeUndefined()
  })

  it('a ValidationException about the model identifier is the deployment, not the request', () => {
    expect(classifyHttp(400, 'ValidationException', 'The provided model identifier is invalid.').class).toBe('misconfigured')
    expect(
      classifyHttp(400, 'ValidationException', "Invocation of model ID x with on-demand throughput isn't supported.").class,
    ).toBe('misconfigured')
    expect(classifyHttp(400, 'ValidationException', 'messages: field required').class).toBe('client')
  })

  it('carries Retry-After as read (seconds, or an HTTP date given now)', () => {
    expect(classifyHttp(429, 'ThrottlingException', undefined, 3000).retryAfterMs).toBe(3000)
    expect(classifyHttp(503).retryAfterMs).toBeUndefined()
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT')).toBeUndefined()
    expect(parseRetryAfter('soon')).toBeUndefined()
  })

  it('keeps the message', () => {
    expect(classifyHttp(400, 'ValidationException', 'bad').message).toBe('bad')
  })
})

describe('classifyException (in-stream, lowerCamel)', () => {
  const matrix: [string, OutcomeClass, number][] = [
    ['throttlingException', 'throttled', 429],
    ['internalServerException', 'unavailable', 500],
    ['serviceUnavailableException', 'unavailable', 503],
    ['modelStreamErrorException', 'unavailable', 424],
    ['validationException', 'client', 400],
    ['modelTimeoutException', 'timeout', 408],
    ['somethingElseException', 'unavailable', 500],
  ]
  for (const [type, cls, status] of matrix) {
    it(`${type} → ${cls} ${status}`, () => {
      expect(classifyException(type, 'm')).toMatchObject({ class: cls, status, message: 'm' })
    })
  }
  it('names the error in UpperCamel as Bedrock does over HTTP', () => {
    expect(classifyException('throttlingException').errorType).toBe('ThrottlingException')
  })
})

describe('network, timeout and failover', () => {
  it('network errors and timeouts fail over', () => {
    expect(classifyNetworkError('reset')).toMatchObject({ class: 'network', message: 'reset' })
    expect(classifyTimeout().class).toBe('timeout')
  })

  it('fails over on capacity and health problems, never on client errors', () => {
    const allowed: Record<OutcomeClass, boolean> = {
      success: false,
      client: false,
      throttled: true,
      unavailable: true,
      timeout: true,
      network: true,
      misconfigured: true,
    }
    for (const [cls, ok] of Object.entries(allowed)) {
      expect(failoverAllowed({ class: cls as OutcomeClass, status: 0 })).toBe(ok)
    }
  })
})
