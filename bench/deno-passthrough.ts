/**
 * With `KV_PATH` set, the Deno KV floor: the same server, plus per request one Deno KV commit of the shape the router's
 * default state makes per attempt (state/deno-kv.ts: a versionstamp check on each of a one-deployment pool's six keys,
 * its meta and deployment keys rewritten) — what KV itself costs on that path, with no router code.
 *
 * The Deno floor: the smallest Deno server that forwards a request to the simulator and streams the answer back
 * (Deno.serve + fetch, like the Deno entry). The client sends it an already-signed request, so it does no signing,
 * routing, auth or state: what remains is Deno's own cost of one proxied request. Run by bench/peer.ts with
 * `deno run --allow-net --allow-env bench/deno-passthrough.ts` (PORT, HOST, UPSTREAM).
 */
import { FORWARDED_HEADERS } from './lib/forwarded-headers'
declare const Deno: {
  env: { get(name: string): string | undefined }
  serve(options: { port: number; hostname: string }, handler: (req: Request) => Response | Promise<Response>): unknown
  openKv(path?: string): Promise<Kv>
}
interface Kv {
  atomic(): Atomic
}
interface Atomic {
  check(...checks: { key: unknown[]; versionstamp: string | null }[]): Atomic
  set(key: unknown[], value: unknown): Atomic
  commit(): Promise<{ ok: boolean; versionstamp?: string }>
}

const upstream = Deno.env.get('UPSTREAM') ?? ''
const kvPath = Deno.env.get('KV_PATH')
const kv = kvPath ? await Deno.openKv(kvPath) : undefined
const KEYS = [['floor', 'p', 'meta'], ['floor', 'p', 'd', 'dep-1'], ['floor', 'p', 'a', 0], ['floor', 'p', 'a', 1], ['floor', 'p', 'a', 2], ['floor', 'p', 'a', 3]]
/** What the keys were last committed as (absent keys stay null), as the router keeps its committed copy. */
const stamps: Array<string | null> = KEYS.map(() => null)
const META = JSON.stringify({ v: 1, seq: 0, pad: 'm'.repeat(240) })
const DEPLOYMENT = JSON.stringify({ window: { buckets: Array.from({ length: 12 }, (_, i) => [i, 1000 + i, 40]) }, breaker: { state: 'closed' }, pad: 'd'.repeat(600) })

/** One commit at a time, as the router's store queues a pool's updates (concurrent ones would conflict on the check). */
let queue: Promise<void> = Promise.resolve()

function commitOnce(): Promise<void> {
  if (!kv) return Promise.resolve()
  const db = kv
  const next = queue.then(async () => {
    const r = await db.atomic().check(...KEYS.map((key, i) => ({ key, versionstamp: stamps[i] }))).set(KEYS[0], META).set(KEYS[1], DEPLOYMENT).commit()
    if (!r.ok) throw new Error('floor commit conflicted: one instance only')
    stamps[0] = stamps[1] = r.versionstamp ?? null
  })
  queue = next.catch(() => {})
  return next
}

Deno.serve({ port: Number(Deno.env.get('PORT') ?? 8788), hostname: Deno.env.get('HOST') ?? '127.0.0.1' }, async (request) => {
  const url = new URL(request.url)
  if (url.pathname === '/health') return new Response('ok')
  await commitOnce()
  const headers = new Headers()
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers.get(name)
    if (value !== null) headers.set(name, value)
  }
  const answer = await fetch(`${upstream}${url.pathname}`, { method: request.method, headers, body: await request.arrayBuffer() })
  return new Response(answer.body, { status: answer.status, headers: answer.headers })
})
