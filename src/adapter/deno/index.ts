/**
 * Deno entry (`deno task start`, Deno Deploy): the same Hono app served with Deno.serve, configured from the
 * process environment.
 */
import { createApp } from '../../app'
import type { RouterEnv } from '../../env'
import { MemoryStateStore } from '../../state/memory'

declare const Deno: {
  env: { toObject(): Record<string, string> }
  serve(options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void }, handler: (req: Request) => Response | Promise<Response>): unknown
}

const env: RouterEnv = Deno.env.toObject()
const memory = new MemoryStateStore()
const app = createApp({ stateStore: () => memory })

Deno.serve({ port: Number(env.PORT ?? 8787), hostname: String(env.HOST ?? '127.0.0.1') }, (req) => app.fetch(req, env))
