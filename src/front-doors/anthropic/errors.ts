/**
 * Errors in the Anthropic API's shape, `{"type": "error", "error": {"type", "message"}}`, with the statuses the
 * Anthropic SDKs map to their typed errors (400 BadRequestError … 429 RateLimitError, 5xx InternalServerError).
 */

/** Anthropic's error `type` for a status. */
export function errorTypeFor(status: number): string {
  switch (status) {
    case 400:
    case 413:
      return status === 413 ? 'request_too_large' : 'invalid_request_error'
    case 401:
      return 'authentication_error'
    case 403:
      return 'permission_error'
    case 404:
      return 'not_found_error'
    case 429:
      return 'rate_limit_error'
    case 503:
    case 529:
      return 'overloaded_error'
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error'
  }
}

export function errorJson(status: number, message: string): string {
  return JSON.stringify({ type: 'error', error: { type: errorTypeFor(status), message } })
}

export function anthropicError(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(errorJson(status, message), { status, headers: { 'content-type': 'application/json', ...headers } })
}
