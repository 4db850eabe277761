/**
 * Reads the JavaScript heap of workerd's isolates through its V8 inspector (Miniflare's `inspectorPort`): one
 * WebSocket per isolate; a reading is a full garbage collection (`HeapProfiler.collectGarbage`) then
 * `Runtime.getHeapUsage`, so it is the live heap, not whatever garbage V8 had not collected yet. workerd runs an
 * inspector command only when it next takes the isolate for an event: a GC is answered after a request reaches
 * the isolate, so the reader pokes the worker (`poke`, a cheap request) until the answers arrive.
 */
export interface HeapReading {
  /** V8 heap in use (MB). */
  usedMb: number
  /** V8 heap reserved (MB). */
  totalMb: number
  /** Memory the runtime (workerd's C++ objects held by JS: requests, streams, buffers) reports to V8 (MB). */
  embedderMb: number
}

export interface IsolateHeaps {
  /** The isolates' names as workerd's inspector lists them (`core:user:router-0`, `core:entry`, …). */
  names: string[]
  /** With `gc: false`, no collection first: the heap as it is (garbage included), for peaks during a burst. */
  read(opts?: { gc?: boolean }): Promise<Record<string, HeapReading>>
  close(): void
}

const MB = 1024 * 1024

export async function watchIsolates(port: number, include: (name: string) => boolean, poke: () => Promise<unknown>): Promise<IsolateHeaps> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ id: string; webSocketDebuggerUrl: string }>
  const sessions = await Promise.all(
    list
      .filter((t) => include(t.id))
      .map(async (t) => {
        const ws = new WebSocket(t.webSocketDebuggerUrl)
        await new Promise((resolve, reject) => {
          ws.addEventListener('open', resolve, { once: true })
          ws.addEventListener('error', () => reject(new Error(`inspector ${t.id}: cannot connect`)), { once: true })
        })
        const pending = new Map<number, (reply: { result?: unknown; error?: { message?: string } }) => void>()
        let id = 0
        ws.addEventListener('message', (e) => {
          const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message?: string } }
          if (m.id !== undefined) pending.get(m.id)?.(m)
          if (m.id !== undefined) pending.delete(m.id)
        })
        const call = (method: string): Promise<any> =>
          new Promise<any>((resolve, reject) => {
            const mine = ++id
            const timer = setTimeout(() => {
              pending.delete(mine)
              reject(new Error(`inspector ${t.id}: ${method} got no answer in 5 s`))
            }, 5000)
            pending.set(mine, (reply) => {
              clearTimeout(timer)
              if (reply.error) reject(new Error(`inspector ${t.id}: ${method}: ${reply.error.message ?? 'error'}`))
              else resolve(reply.result)
            })
            ws.send(JSON.stringify({ id: mine, method }))
          })
        return { name: t.id, ws, call }
      }),
  )
  return {
    names: sessions.map((s) => s.name),
    async read(opts = {}) {
      const out: Record<string, HeapReading> = {}
      let collected = opts.gc === false
      const gcs = collected ? Promise.resolve([]) : Promise.all(sessions.map((s) => s.call('HeapProfiler.collectGarbage'))).finally(() => (collected = true))
      for (let i = 0; i < 10 && !collected; i++) {
        await poke().catch(() => undefined)
        await Promise.race([gcs.catch(() => undefined), new Promise((r) => setTimeout(r, 200))])
      }
      if (opts.gc !== false) await gcs
      await Promise.all(
        sessions.map(async (s) => {
          const r = (await s.call('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number; embedderHeapUsedSize?: number }
          out[s.name] = { usedMb: r.usedSize / MB, totalMb: r.totalSize / MB, embedderMb: (r.embedderHeapUsedSize ?? 0) / MB }
        }),
      )
      return out
    },
    close() {
      for (const s of sessions) s.ws.close()
    },
  }
}
