/**
 * CORS for browser clients, off unless origins are allowed: `cors.origins` in ROUTER_CONFIG and/or
 * ROUTER_CORS_ORIGINS (comma-separated, or `*`). Preflights are answered before authentication (browsers send them
 * without credentials); the router's trace headers are exposed so a page can show which deployment served it.
 * Browsers authenticate with an Authorization header, never cookies, so the router never sends
 * Access-Control-Allow-Credentials — and `*` is never paired with credentials.
 */
import { cors } from 'hono/cors'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app'
import { validConfig } from '../config/load'
import { TRACE_HEADERS } from '../engine/trace'

/** The trace headers every answer carries, plus Bedrock's own (and Retry-After) that clients read. */
const EXPOSED = ['x-amzn-requestid', 'x-amzn-errortype', 'retry-after', ...TRACE_HEADERS]

let cached: { source: string; middleware: ReturnType<typeof cors> } | undefined

export const corsForBrowsers = createMiddleware<AppEnv>(async (c, next) => {
  const fromEnv = typeof c.env?.ROUTER_CORS_ORIGINS === 'string' ? c.env.ROUTER_CORS_ORIGINS.trim() : ''
  // An invalid config allows nothing more (the routes report it).
  const source = [fromEnv, ...(validConfig(c.env?.ROUTER_CONFIG)?.config.cors.origins ?? [])].filter(Boolean).join(',')
  if (!source) return next()
  if (cached?.source !== source) {
    const origins = source.split(',').map((o) => o.trim()).filter(Boolean)
    cached = {
      source,
      middleware: cors({
        origin: origins.includes('*') ? '*' : origins,
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['authorization', 'content-type', 'accept', 'x-api-key', 'anthropic-version', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access'],
        exposeHeaders: EXPOSED,
        maxAge: 600,
      }),
    }
  }
  const preflight = await cached.middleware(c, next)
  if (preflight) return preflight
  // Lets a page on an allowed origin read Server-Timing in its Resource Timing entries too.
  if (c.res.headers.has('server-timing') && c.res.headers.has('access-control-allow-origin')) c.res.headers.set('timing-allow-origin', c.res.headers.get('access-control-allow-origin')!)
})
