/** The headers the passthrough floors (bench/workers/passthrough.ts, bench/deno-passthrough.ts) forward: a pre-signed request's. */
export const FORWARDED_HEADERS = ['authorization', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token', 'content-type', 'accept']
