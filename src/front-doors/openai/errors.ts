/**
 * Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the statuses OpenAI's clients
 * map to their typed errors (400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429
 * RateLimitError, 5xx InternalServerError).
 */

export interface OpenAiErrorBody {
  message: string
  type: string
  param: string | null
  code: string | null
}

/** The `type` OpenAI uses for a status. */
export function errorTypeFor(status: number): string {
  if (status === 429) return 'rate_limit_error'
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

export function errorBody(status: number, message: string, code: string | null = null, param: string | null = null): OpenAiErrorBody {
  return { message, type: errorTypeFor(status), param, code }
}

export function openAiError(status: number, message: string, opts: { code?: string | null; param?: string | null; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify({ error: errorBody(status, message, opts.code ?? null, opts.param ?? null) }), {
    status,
    headers: { 'content-type': 'application/json', ...opts.headers },
  })
}
