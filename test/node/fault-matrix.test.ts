/**
 * The fault matrix (docs/fault-matrix.md): every front door × every upstream fault, through the router in workerd
 * against the simulator. Each cell has a pool of its own: a primary in us-east-1, whose first attempt the simulator
 * faults, and a clean fallback in us-west-2. A fault before any content must end in the fallback's complete answer; a
 * fault after content was sent, in a clear error in the door's own shape at the end of the stream — never a hang, a
 * silent truncation or a 200 with broken content; a slow trickle below the idle timeout, in the primary's complete
 * answer. Afterwards the pool's state must agree with what was sent: the primary tried once, its window holding the
 * attempt exactly when upstream may have counted it (see primaryWindow), the fallback's holding its one answer, no
 * probe left in flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOORS } from '../../bench/lib/doors'
import { startHarness, type Harness } from './harness'

const CLAUDE = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0'
const ADMIN = 'fault-matrix-admin'

type Expect = 'fallback' | 'error' | 'primary'
interface Fault {
  name: string
  rule: Record<string, unknown>
  streamsOnly?: boolean
  /** What a client must get: the fallback's answer, a clear error after content (streams), or the primary's answer. */
  expect: Expect
  /**
   * What the primary's window must hold afterwards: 0 where Bedrock refused the request before it started (a throttle,
   * a 5xx, an exception before content: Bedrock does not count it, the reservation is released), 1 where the router
   * cannot know whether upstream counted it (a timeout, a reset, a broken body) or it did (a stream that started).
   */
  primaryWindow: 0 | 1
}
const FAULTS: Fault[] = [
  { name: '429', rule: { fault: 'throttle' }, expect: 'fallback', primaryWindow: 0 },
  { name: '503', rule: { fault: 'error', status: 503, errorType: 'ServiceUnavailableException' }, expect: 'fallback', primaryWindow: 0 },
  { name: '500', rule: { fault: 'error', status: 500, errorType: 'InternalServerException' }, expect: 'fallback', primaryWindow: 0 },
  { name: 'a stall past the deadline', rule: { fault: 'stall', ms: 4000 }, expect: 'fallback', primaryWindow: 1 },
  { name: 'connection reset', rule: { fault: 'reset' }, expect: 'fallback', primaryWindow: 1 },
  { name: '200 with a non-JSON body', rule: { fault: 'garbage' }, expect: 'fallback', primaryWindow: 1 },
  { name: 'an exception frame before the first content', rule: { fault: 'exception', afterFrames: 1, exceptionType: 'serviceUnavailableException' }, streamsOnly: true, expect: 'fallback', primaryWindow: 0 },
  { name: 'an exception mid-stream', rule: { fault: 'exception', afterFrames: 3, exceptionType: 'modelStreamErrorException' }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a cut mid-stream', rule: { fault: 'cut', afterFrames: 3 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a corrupted CRC', rule: { fault: 'corrupt', afterFrames: 3 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a truncated frame', rule: { fault: 'cut', afterFrames: 3, partialBytes: 9 }, streamsOnly: true, expect: 'error', primaryWindow: 1 },
  { name: 'a slow trickle below the idle timeout', rule: { fault: 'delay', frameDelayMs: 150 }, streamsOnly: true, expect: 'primary', primaryWindow: 1 },
]

const poolName = (d: number, f: number) => `cell-${d}-${f}`
let h: Harness
beforeAll(async () => {
  h = await startHarness(
    (e) => {
      const pools: Record<string, unknown> = {}
      DOORS.forEach((_, d) =>
        FAULTS.forEach((_, f) => {
          const name = poolName(d, f)
          pools[name] = {
            ttfbTimeoutMs: 1000,
            attemptTimeoutMs: 1500,
            streamIdleTimeoutMs: 1000,
            timeoutMs: 15_000,
            deployments: [
              { id: `${name}-primary`, modelId: CLAUDE, region: 'us-east-1', endpoint: e['us-east-1'] },
              { id: `${name}-fallback`, modelId: CLAUDE, region: 'us-west-2', endpoint: e['us-west-2'], fallback: true },
            ],
          }
        }),
      )
      return { pools }
    },
    { ROUTER_ADMIN_KEY: ADMIN, ROUTER_LOG_SAMPLE: '0' },
  )
})
afterAll(() => h?.close())

/** Upstream requests the simulator received per region since `since` (ms). */
async function sentSince(since: number): Promise<Record<string, number>> {
  const recs = (await h.control('/__sim/requests')).requests as Array<{ region: string; time: number }>
  const out: Record<string, number> = {}
  for (const r of recs) if (r.time >= since) out[r.region] = (out[r.region] ?? 0) + 1
  return out
}

describe.each(DOORS.map((door, d) => ({ door, d })))('$door.name', ({ door, d }) => {
  for (const [f, fault] of FAULTS.entries()) {
    const applies = !fault.streamsOnly || door.stream
    it.skipIf(!applies)(`× ${fault.name}: ${fault.expect === 'fallback' ? "the fallback's answer" : fault.expect === 'error' ? 'a clear error in the door’s shape' : "the primary's whole answer"}; state consistent`, async () => {
      const pool = poolName(d, f)
      await h.control('/__sim/reset', {})
      await h.control('/__sim/rules', [{ ...fault.rule, region: 'us-east-1', times: 1 }])
      const t0 = Date.now()
      const res = await door.send(h.router.url, pool)
      const seen = await door.read(res)
      const detail = `${door.name} × ${fault.name}: ${JSON.stringify(seen)}; deployment ${res.headers.get('x-router-deployment')}, failovers ${res.headers.get('x-router-failovers')}`
      expect(seen.kind, detail).not.toBe('malformed')
      if (fault.expect === 'error') {
        expect(seen.kind, detail).toBe('error')
        expect(res.headers.get('x-router-deployment'), detail).toBe(`${pool}-primary`)
      } else {
        expect(seen.kind, detail).toBe('served')
        expect((seen as { text: string }).text, detail).toContain(fault.expect === 'fallback' ? 'us-west-2' : 'us-east-1')
        expect(res.headers.get('x-router-deployment'), detail).toBe(`${pool}-${fault.expect}`)
        if (fault.expect === 'fallback') expect(res.headers.get('x-router-failovers'), detail).toMatch(new RegExp(`^${pool}-primary=`))
      }

      // The pool's state agrees with what was sent: a window entry per attempt, nothing left in flight.
      const sent = await sentSince(t0)
      const snapshot = (await (await fetch(`${h.router.url}/health/deployments`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { deployments: Array<{ pool: string; id: string; window: { requests: number }; probesInFlight: number }> }
      const deployments = snapshot.deployments.filter((x) => x.pool === pool)
      const by = Object.fromEntries(deployments.map((x) => [x.id, x]))
      expect(sent['us-east-1'], `${detail}: the primary was tried once`).toBe(1)
      expect(by[`${pool}-primary`].window.requests, `${detail}; snapshot ${JSON.stringify(deployments)}`).toBe(fault.primaryWindow)
      expect(by[`${pool}-fallback`].window.requests, `${detail}; sent ${JSON.stringify(sent)}`).toBe(sent['us-west-2'] ?? 0)
      for (const x of deployments) expect(x.probesInFlight, detail).toBe(0)
    }, 30_000)
  }
})
