/** Bedrock-style error responses: status, `x-amzn-ErrorType`, `x-amzn-RequestId`, JSON `{"message"}`. */

const ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.bedrock/'

export const DEFAULT_MESSAGES: Record<string, string> = {
  ThrottlingException: 'Too many requests, please wait before trying again.',
  ServiceUnavailableException: 'Bedrock is unable to process your request.',
  InternalServerException: 'The server encountered an internal error while processing the request.',
  ModelNotReadyException:
    'Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.',
  AccessDeniedException: "You don't have access to the model with the specified model ID.",
  ValidationException: 'Malformed input request, please reformat your input and try again.',
  ResourceNotFoundException: 'Could not resolve the foundation model from the provided model identifier.',
  ModelTimeoutException: 'Model has timed out in processing the request. Try your request again.',
  ModelErrorException: 'The model returned an error.',
  ServiceQuotaExceededException: 'Your request exceeds the service quota for your account.',
}

/** Messages AWS uses inside exception frames (lowerCamel member names). */
export const STREAM_EXCEPTION_MESSAGES: Record<string, string> = {
  throttlingException:
    'Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again.',
  internalServerException: 'The system encountered an unexpected error during processing. Try your request again.',
  serviceUnavailableException: 'The service is unavailable. Try your request again later.',
  modelStreamErrorException: 'Model Stream Error',
  validationException: 'Malformed input request, please reformat your input and try again.',
  /** InvokeModelWithResponseStream only. */
  modelTimeoutException: 'Model has timed out in processing the request. Try your request again.',
}

/** An AWS error decided somewhere in the pipeline, turned into a Response by `errorResponse`. */
export interface AwsError {
  status: number
  errorType: string
  message: string
  retryAfterSeconds?: number
}

export function awsError(status: number, errorType: string, message?: string, retryAfterSeconds?: number): AwsError {
  return { status, errorType, message: message ?? DEFAULT_MESSAGES[errorType] ?? errorType, retryAfterSeconds }
}

export function errorResponse(err: AwsError, requestId: string): Response {
  const headers = new Headers({
    'content-type': 'application/json',
    'x-amzn-ErrorType': `${err.errorType}:${ERROR_NAMESPACE}`,
    'x-amzn-RequestId': requestId,
  })
  if (err.retryAfterSeconds !== undefined) headers.set('retry-after', String(err.retryAfterSeconds))
  return new Response(JSON.stringify({ message: err.message }), { status: err.status, headers })
}
