/**
 * The Deno floor: the smallest Deno server that forwards a request to the simulator and streams the answer back
 * (Deno.serve + fetch, like the Deno entry). The client sends it an already-signed request, so it does no signing,
 * routing, auth or state: what remains is Deno's own cost of one proxied request. Run by bench/peer.ts with
 * `deno run --allow-net --allow-env bench/deno-passthrough.ts` (PORT, HOST, UPSTREAM).
 */
import { FORWARDED_HEADERS } from './lib/forwarded-headers'
declare const Deno: {
  env: { get(name: string): string | undefined }
  serve(options: { port: number; hostname: string }, handler: (req: Request) => Response | Promise<Response>): unknown
}

const upstream = Deno.env.get('UPSTREAM') ?? ''

Deno.serve({ port: Number(Deno.env.get('PORT') ?? 8788), hostname: Deno.env.get('HOST') ?? '127.0.0.1' }, async (request) => {
  const url = new URL(request.url)
  if (url.pathname === '/health') return new Response('ok')
  const headers = new Headers()
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers.get(name)
    if (value !== null) headers.set(name, value)
  }
  const answer = await fetch(`${upstream}${url.pathname}`, { method: request.method, headers, body: await request.arrayBuffer() })
  return new Response(answer.body, { status: answer.status, headers: answer.headers })
})
