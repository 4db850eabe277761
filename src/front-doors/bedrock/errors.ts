/**
 * Errors in Bedrock's own shape: HTTP status, `x-amzn-ErrorType` header, JSON body `{"message": ...}`.
 * AWS SDKs map these to their modeled exceptions (ThrottlingException, ValidationException, ...).
 */

export function bedrockError(
  status: number,
  errorType: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ message }), {
    status,
    headers: {
      'content-type': 'application/json',
      'x-amzn-errortype': errorType,
      'x-amzn-requestid': crypto.randomUUID(),
      ...headers,
    },
  })
}

export const validationError = (message: string) => bedrockError(400, 'ValidationException', message)
export const notFoundError = (message: string) => bedrockError(404, 'ResourceNotFoundException', message)

/** Client authentication failed: what Bedrock answers for a bad or missing API key. */
export const unauthorizedError = (message: string) =>
  bedrockError(401, 'UnrecognizedClientException', message, { 'www-authenticate': 'Bearer' })
