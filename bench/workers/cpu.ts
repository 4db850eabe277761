/** The CPU benchmark (./cpu-core.ts) as a Worker: `GET /run?n=&batches=&deltas=`, `GET /converse-only?n=`, `GET /stream-only?n=&deltas=&door=`. */
import { runConverseOnly, runCpuBench } from './cpu-core'

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname === '/converse-only') return Response.json({ requests: await runConverseOnly(Number(url.searchParams.get('n') ?? 1000)) })
    if (url.pathname === '/stream-only') return Response.json({ requests: await runConverseOnly(Number(url.searchParams.get('n') ?? 100), Number(url.searchParams.get('deltas') ?? 400), url.searchParams.get('door') === 'anthropic' ? 'anthropic' : 'bedrock') })
    if (url.pathname !== '/run') return new Response('not found', { status: 404 })
    try {
      const result = await runCpuBench({
        n: Number(url.searchParams.get('n') ?? 400),
        batches: Number(url.searchParams.get('batches') ?? 5),
        streamDeltas: Number(url.searchParams.get('deltas') ?? 400),
      })
      return Response.json(result)
    } catch (e) {
      return Response.json({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }, { status: 500 })
    }
  },
}
