/** Abortable waits that never leave a timer or listener behind. */

/** Resolves true after `ms`, or false as soon as any signal aborts. `ms` = Infinity waits for an abort only. */
export function sleep(ms: number, signals: ReadonlyArray<AbortSignal | undefined>): Promise<boolean> {
  const live = signals.filter((s): s is AbortSignal => s !== undefined)
  if (live.some((s) => s.aborted)) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const settle = (value: boolean) => {
      if (timer !== undefined) clearTimeout(timer)
      for (const s of live) s.removeEventListener('abort', onAbort)
      resolve(value)
    }
    const onAbort = () => settle(false)
    for (const s of live) s.addEventListener('abort', onAbort, { once: true })
    if (Number.isFinite(ms)) timer = setTimeout(() => settle(true), Math.max(0, ms))
  })
}
