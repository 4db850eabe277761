/** Bindings and variables the router reads (Worker vars/secrets, or process/Deno env through an adapter). */
export interface RouterEnv {
  /** The configuration document: JSON text (or an object when set as a structured var). */
  ROUTER_CONFIG?: unknown
  /** Comma-separated client API keys, presented as `Authorization: Bearer <key>`. */
  ROUTER_API_KEYS?: string
  /** HMAC secret for HS256 tokens: those the router mints (POST /v1/tokens) and those an app's server signs. */
  ROUTER_JWT_SECRET?: string
  /** Set (to any non-empty value) only by demo mode: allows running without client keys. */
  ROUTER_DEMO?: string
  /** Browser origins allowed by CORS (comma-separated, or `*`); unset: no CORS headers. */
  ROUTER_CORS_ORIGINS?: string
  /** The admin key: /stats, /health/deployments, /dashboard, /metrics (keys with `"admin": true` may too). */
  ROUTER_ADMIN_KEY?: string
  /** How often an isolate sends its accounting batch, ms (default 1000). */
  ROUTER_STATS_FLUSH_MS?: string
  /** Share of plain successes whose JSON log line is written, 0..1 (default 1); errors, throttles and failovers always are. */
  ROUTER_LOG_SAMPLE?: string
  /** Largest request body accepted, bytes (default 10 MiB; at most 100 MiB): larger → 413 before it is all read. */
  ROUTER_MAX_BODY_BYTES?: string
  /** How long a request body may take to arrive, ms (default 30000): slower → 408, nothing sent upstream. */
  ROUTER_BODY_TIMEOUT_MS?: string
  /** OTLP/HTTP JSON traces endpoint (e.g. http://collector:4318/v1/traces): one span per request. */
  ROUTER_OTLP_ENDPOINT?: string
  /** Headers for the OTLP endpoint, `k=v,k2=v2` (a collector's auth). */
  ROUTER_OTLP_HEADERS?: string
  /** A Workers Analytics Engine dataset binding: one data point per request. */
  ROUTER_ANALYTICS?: unknown
  /** Default upstream credentials; named sets use the suffix `_<NAME>` (see upstream/credentials.ts). */
  AWS_ACCESS_KEY_ID?: string
  AWS_SECRET_ACCESS_KEY?: string
  AWS_SESSION_TOKEN?: string
  AWS_BEARER_TOKEN_BEDROCK?: string
  [name: string]: unknown
}
