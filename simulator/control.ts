/** The HTTP control API under `/__sim/` (documented at the top of ./handler.ts). No auth: loopback use only. */
import type { SimState } from './state'
import { validateQuota } from './quota'
import type { Operation } from './types'

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
const bad = (message: string, status = 400) => json({ error: message }, status)

async function readJson(req: Request): Promise<unknown> {
  const text = await req.text()
  if (text.trim() === '') return {}
  return JSON.parse(text)
}

export async function handleControl(state: SimState, req: Request, url: URL, region: string): Promise<Response> {
  const path = url.pathname.replace(/\/+$/, '')
  const route = `${req.method} ${path}`
  try {
    switch (route) {
      case 'GET /__sim':
      case 'GET /__sim/health':
        return json({ ok: true, region, now: state.now() })
      case 'GET /__sim/rules':
        return json({ rules: state.rules() })
      case 'POST /__sim/rules': {
        const body = await readJson(req)
        if (Array.isArray(body)) return json({ ids: body.map((r) => state.addRule(r)) })
        return json({ id: state.addRule(body as never) })
      }
      case 'DELETE /__sim/rules':
        state.reset()
        return json({ ok: true })
      case 'POST /__sim/reset': {
        // An optional {"seed": n} restarts the random faults from that seed instead of the constructor's.
        const body = (await readJson(req)) as { seed?: unknown }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('reset body must be a JSON object')
        const extra = Object.keys(body).filter((k) => k !== 'seed')
        if (extra.length) return bad(`unknown reset key: ${extra[0]}`)
        state.reset(body.seed as number | undefined)
        return json({ ok: true, seed: state.config.seed ?? null })
      }
      case 'GET /__sim/quota':
        return json({ quotas: state.quotas.list() })
      case 'POST /__sim/quota':
        return json({ id: state.setQuota(validateQuota(await readJson(req))) })
      case 'GET /__sim/config':
        return json(state.config)
      case 'POST /__sim/config':
        return json(state.configure((await readJson(req)) as never))
      case 'GET /__sim/stats':
        return json(state.stats())
      case 'GET /__sim/requests': {
        const p = url.searchParams
        const limit = p.has('limit') ? Number(p.get('limit')) : undefined
        const operation = (p.get('operation') ?? undefined) as Operation | undefined
        const requests = state.requests({ region: p.get('region') ?? undefined, modelId: p.get('modelId') ?? undefined, operation, limit })
        return json({ requests }) // the Authorization header is non-enumerable, so it is not serialised
      }
      case 'POST /__sim/clock': {
        const body = (await readJson(req)) as { advanceMs?: unknown }
        if (typeof body.advanceMs !== 'number' || !Number.isFinite(body.advanceMs)) return bad('advanceMs must be a number')
        state.advanceClock(body.advanceMs)
        return json({ now: state.now() })
      }
    }
    const one = /^\/__sim\/rules\/([^/]+)$/.exec(path)
    if (one && req.method === 'DELETE') {
      const removed = state.removeRule(decodeURIComponent(one[1]))
      return json({ removed }, removed ? 200 : 404)
    }
    return bad(`no control route ${route}`, 404)
  } catch (e) {
    // Invalid JSON, rule, quota or config: RuleError, ConfigError, SyntaxError, Error.
    return bad(e instanceof Error ? e.message : String(e))
  }
}
