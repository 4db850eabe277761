/** A min-heap of timed events for the virtual-time simulator; equal times keep insertion order (deterministic). */
export class EventQueue<T> {
  private readonly heap: { time: number; seq: number; item: T }[] = []
  private seq = 0

  get size(): number {
    return this.heap.length
  }

  push(time: number, item: T): void {
    const heap = this.heap
    heap.push({ time, seq: this.seq++, item })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(i, parent)) break
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
  }

  pop(): { time: number; item: T } | undefined {
    const heap = this.heap
    if (heap.length === 0) return undefined
    const top = heap[0]
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && this.less(l, m)) m = l
        if (r < heap.length && this.less(r, m)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m], heap[i]]
        i = m
      }
    }
    return { time: top.time, item: top.item }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]
    const y = this.heap[b]
    return x.time < y.time || (x.time === y.time && x.seq < y.seq)
  }
}
