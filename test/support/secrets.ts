/**
 * Every secret the test suite hands the router — upstream credentials, Bedrock API keys, client keys, admin keys,
 * JWT secrets — in one list. Each is distinctive (no log line or answer contains it by chance), so after the whole
 * suite has run, scripts/test.ts searches everything the suite produced (its output, the workers' output, the
 * bodies of the answers it read) for every one of them: a hit is a leak.
 */
import { DEMO_API_KEY, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'

/** The credentials test/node/secrets.test.ts signs with (its upstream echoes them back). */
export const ECHO_SECRET_ACCESS_KEY = 'EchoTestSecretKey/0123456789abcdefghijklm'
export const ECHO_SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEchoTestSessionToken0123456789abcdefghijklmnopqrstuvwxyz=='
/** HS256 secrets of the JWT tests. */
export const JWT_SECRET = 'jwt-secret-for-tests-0123456789abcdef0123456789'
export const PLAYGROUND_JWT_SECRET = 'playground-test-secret-0123456789abcdef'
/** The client key the end-to-end harness (test/node/harness.ts) gives the router. */
export const CLIENT_KEY = 'test-client-key-1'

export const SUITE_SECRETS: Record<string, string> = {
  'simulator secret access key': DEMO_SECRET_ACCESS_KEY,
  'simulator Bedrock API key': DEMO_API_KEY,
  'echo test secret access key': ECHO_SECRET_ACCESS_KEY,
  'echo test session token': ECHO_SESSION_TOKEN,
  'JWT secret': JWT_SECRET,
  'playground JWT secret': PLAYGROUND_JWT_SECRET,
  'harness client key': CLIENT_KEY,
}
