/**
 * A small server-sent-events parser (WHATWG HTML "event stream interpretation"): lines end with CRLF, LF or
 * CR; `data` lines are joined with "\n"; comments (`:`) are skipped; an event is dispatched at a blank line.
 */

export interface SseEvent {
  /** `event:` field, 'message' if none. */
  event: string
  data: string
  /** Last `id:` seen (carried over between events, as the spec says). */
  id?: string
  /** `retry:` (ms) if given in this event. */
  retry?: number
}

export class SseParser {
  private buffer = ''
  private scanned = 0 // chars of `buffer` already known to hold no line terminator
  private data: string[] = []
  private eventName = ''
  private lastId: string | undefined
  private retry: number | undefined
  private sawField = false
  private first = true
  private readonly decoder = new TextDecoder()

  /** Feeds decoded text; returns the events completed by it. */
  push(text: string): SseEvent[] {
    if (this.first && text.length > 0) {
      this.first = false
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    this.buffer += text
    const out: SseEvent[] = []
    let start = 0
    const b = this.buffer
    let i = this.scanned
    for (; i < b.length; i++) {
      const c = b.charCodeAt(i)
      if (c !== 10 && c !== 13) continue
      if (c === 13 && i === b.length - 1) break // CR at the end: might be half of a CRLF, wait for more
      this.line(b.slice(start, i), out)
      if (c === 13 && b.charCodeAt(i + 1) === 10) i++
      start = i + 1
    }
    this.buffer = b.slice(start)
    this.scanned = i - start
    return out
  }

  /** Feeds UTF-8 bytes (multi-byte characters may be split across calls). */
  pushBytes(bytes: Uint8Array): SseEvent[] {
    return this.push(this.decoder.decode(bytes, { stream: true }))
  }

  /**
   * Ends the stream. Throws if it ended inside an event (fields or a partial line not yet terminated by a
   * blank line): a well-formed producer never does that. Returns events completed by a pending final CR.
   */
  end(): SseEvent[] {
    const out = this.push(this.decoder.decode())
    if (this.buffer.endsWith('\r')) {
      const last = this.buffer.slice(0, -1)
      this.buffer = ''
      this.scanned = 0
      this.line(last, out)
    }
    if (this.buffer !== '' || this.sawField) throw new Error(`SSE stream ended inside an event (pending: ${JSON.stringify(this.buffer)})`)
    return out
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        const ev: SseEvent = { event: this.eventName || 'message', data: this.data.join('\n') }
        if (this.lastId !== undefined) ev.id = this.lastId
        if (this.retry !== undefined) ev.retry = this.retry
        out.push(ev)
      }
      this.data = []
      this.eventName = ''
      this.retry = undefined
      this.sawField = false
      return
    }
    if (line.charCodeAt(0) === 58) return // ':' comment
    this.sawField = true
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.charCodeAt(0) === 32) value = value.slice(1)
    if (field === 'data') this.data.push(value)
    else if (field === 'event') this.eventName = value
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastId = value
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) this.retry = Number(value)
    }
  }
}
