/**
 * The floor: the smallest Worker that forwards a request to the simulator and streams the answer back, run by
 * Miniflare/workerd exactly like the router. The client sends it an already-signed request (the direct path's
 * headers), so it does no signing, routing, auth or state: what remains is the runtime's own cost of one proxied
 * request (workerd's HTTP server and client; served on a direct socket like the router, bench/lib/bench-worker.ts).
 */
import { FORWARDED_HEADERS } from '../lib/forwarded-headers'
interface Env {
  UPSTREAM: string
}


export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url)
    const headers = new Headers()
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers.get(name)
      if (value !== null) headers.set(name, value)
    }
    const upstream = await fetch(`${env.UPSTREAM}${url.pathname}`, { method: request.method, headers, body: await request.arrayBuffer() })
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers })
  },
}
