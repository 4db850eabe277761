import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeErrorFrame, encodeEventFrame, encodeExceptionFrame, encodeFrame, EventStreamError, EventStreamFramer, type Frame } from './eventstream'
import { sseError, sseFromFrame } from './sse'
import { SseParser, type SseEvent } from '../../test/support/sse-parser'
import { bytesOf, concat, FIXTURES, fixture, rng, utf8 } from '../../test/support/fixtures'

function framesOf(bytes: Uint8Array): Frame[] {
  const framer = new EventStreamFramer()
  const frames = framer.push(bytes)
  framer.end()
  return frames
}

function parseAll(bytes: Uint8Array): SseEvent[] {
  const p = new SseParser()
  const events = p.pushBytes(bytes)
  events.push(...p.end())
  return events
}

describe('sseFromFrame on real captures', () => {
  for (const fx of FIXTURES) {
    it(`${fx.name}: one SSE event per frame, payload verbatim (p padding kept)`, () => {
      const frames = framesOf(fx.bytes)
      const events = parseAll(concat(...frames.map(sseFromFrame)))
      expect(events.length).toBe(fx.expected.length)
      events.forEach((ev, i) => {
        const x = fx.expected[i]
        const headers = Object.fromEntries(x.headers.map(([n, , v]) => [n, v]))
        if (headers[':message-type'] === 'event') {
          expect(ev.event).toBe(headers[':event-type'])
          expect(ev.data).toBe(x.payload)
          const padded = 'p' in JSON.parse(x.payload)
          expect('p' in JSON.parse(ev.data)).toBe(padded)
        } else {
          expect(ev.event).toBe('error')
        }
      })
    })
  }

  it('every real event frame carrying p still carries the same p after SSE', () => {
    let padded = 0
    for (const fx of FIXTURES)
      for (const f of framesOf(fx.bytes)) {
        if (f.messageType !== 'event') continue
        const p = JSON.parse(utf8(f.payload)).p
        if (p === undefined) continue
        padded++
        const [ev] = parseAll(sseFromFrame(f))
        expect(JSON.parse(ev.data).p).toBe(p)
      }
    expect(padded).toBe(6 + 25 + 9) // all but the 2024 Kong capture
  })

  it('produces exactly `event: <type>\\ndata: <payload>\\n\\n`', () => {
    const [, delta] = framesOf(fixture('vercel-issue-18994-live-sonnet-4-6').bytes)
    expect(utf8(sseFromFrame(delta))).toBe(
      'event: contentBlockDelta\ndata: {"contentBlockIndex":0,"delta":{"text":"OK"},"p":"abcdefghijklmnopqrstuvwx"}\n\n',
    )
  })

  it('keeps non-ASCII payload bytes intact (Kong capture has "π")', () => {
    const frames = framesOf(fixture('kong-lua-resty-aws-converse-stream').bytes)
    const ev = parseAll(sseFromFrame(frames[1]))[0]
    expect(JSON.parse(ev.data).delta.text).toContain('Pi (π)')
  })
})

describe('sseFromFrame errors', () => {
  it('maps the modelStreamErrorException capture to event: error with type, message and the other fields', () => {
    const [f] = framesOf(fixture('vercel-model-stream-error-exception').bytes)
    const out = utf8(sseFromFrame(f))
    expect(out).toBe(
      'event: error\ndata: {"type":"modelStreamErrorException","message":"Model Stream Error","originalStatusCode":500,"originalMessage":"The model stream failed."}\n\n',
    )
  })

  it('maps our own exception frames', () => {
    const f = decodeFrame(encodeExceptionFrame('throttlingException', 'Too many requests,\nplease wait'))
    const [ev] = parseAll(sseFromFrame(f))
    expect(ev.event).toBe('error')
    expect(JSON.parse(ev.data)).toEqual({ type: 'throttlingException', message: 'Too many requests,\nplease wait' })
  })

  it('handles exception payloads that are not a JSON object, or use "Message"', () => {
    const raw = (payload: string) => decodeFrame(encodeFrame({ ':message-type': 'exception', ':exception-type': 'internalServerException' }, bytesOf(payload)))
    expect(JSON.parse(parseAll(sseFromFrame(raw('gateway exploded')))[0].data)).toEqual({ type: 'internalServerException', message: 'gateway exploded' })
    expect(JSON.parse(parseAll(sseFromFrame(raw('[1]')))[0].data)).toEqual({ type: 'internalServerException', message: '[1]' })
    expect(JSON.parse(parseAll(sseFromFrame(raw('{"Message":"M","type":"spoof","__proto__":{"x":1}}')))[0].data)).toEqual(
      JSON.parse('{"type":"internalServerException","message":"M","__proto__":{"x":1}}'),
    )
  })

  it('maps :message-type error frames using :error-code / :error-message', () => {
    const [ev] = parseAll(sseFromFrame(decodeFrame(encodeErrorFrame('InternalFailure', 'bad things'))))
    expect(ev).toEqual({ event: 'error', data: '{"type":"InternalFailure","message":"bad things"}' })
  })

  it('maps unknown message types to an error event', () => {
    const f = decodeFrame(encodeFrame({ ':message-type': 'future' }, new Uint8Array()))
    expect(JSON.parse(parseAll(sseFromFrame(f))[0].data)).toEqual({ type: 'unknownMessageType', message: 'unexpected :message-type "future"' })
  })

  it('refuses an event type that would break the SSE framing', () => {
    for (const t of ['a\nevent: x', 'a\rb'])
      expect(() => sseFromFrame(decodeFrame(encodeEventFrame(t, '{}')))).toThrow(EventStreamError)
  })
})

describe('sseFromFrame with CR/LF in the payload', () => {
  const cases = ['{"a":\r1,\r"b":2}', '{\n"a": 1,\r\n"b": "x"\r}', '\n{"a":1}\n', '{"a":\r\r\n\n1}', '\r\n']
  for (const json of cases)
    it(`one data: line per line: ${JSON.stringify(json)}`, () => {
      const out = utf8(sseFromFrame(decodeFrame(encodeEventFrame('contentBlockDelta', json))))
      expect(out.startsWith('event: contentBlockDelta\ndata: ')).toBe(true)
      expect(out.endsWith('\n\n')).toBe(true)
      expect(out).not.toContain('\r')
      const lines = out.slice(0, -2).split('\n')
      expect(lines[0]).toBe('event: contentBlockDelta')
      for (const l of lines.slice(1)) expect(l.startsWith('data: ')).toBe(true)
      expect(lines.length - 1).toBe(json.split(/\r\n|\r|\n/).length)
      const events = parseAll(bytesOf(out))
      expect(events.length).toBe(1)
      expect(events[0].data).toBe(json.replace(/\r\n|\r/g, '\n'))
      if (json.trim() !== '') expect(JSON.parse(events[0].data)).toEqual(JSON.parse(json))
    })
})

describe('sseError', () => {
  it('is one event with a single data line', () => {
    expect(utf8(sseError('truncatedStream', 'upstream ended\r\nmid-frame'))).toBe(
      'event: error\ndata: {"type":"truncatedStream","message":"upstream ended\\r\\nmid-frame"}\n\n',
    )
  })
  it('adds extra fields after type and message, never overriding them', () => {
    expect(utf8(sseError('t', 'm', { type: 'x', message: 'y', retryable: true }))).toBe('event: error\ndata: {"type":"t","message":"m","retryable":true}\n\n')
  })
})

describe('SseParser', () => {
  it('follows the SSE rules: CRLF/CR/LF, comments, no-space values, multi-line data, defaults, id, retry', () => {
    const text = '\uFEFF: hello\r\nevent: a\rdata:x\ndata:  y\n\ndata\nid: 7\nretry: 50\n\nevent: empty\n\nfoo: bar\ndata: z\r\n\r\n'
    const p = new SseParser()
    const events = p.push(text)
    p.end()
    expect(events).toEqual([
      { event: 'a', data: 'x\n y' },
      { event: 'message', data: '', id: '7', retry: 50 },
      { event: 'message', data: 'z', id: '7' },
    ])
  })

  it('gives the same events at every split of a byte stream (CR|LF and UTF-8 splits included)', () => {
    const bytes = bytesOf('event: é\r\ndata: π ✓\r\ndata: 𝄞\r\n\r\nevent: b\rdata: 2\r\r')
    const want = parseAll(bytes)
    expect(want).toEqual([
      { event: 'é', data: 'π ✓\n𝄞' },
      { event: 'b', data: '2' },
    ])
    for (let k = 0; k <= bytes.length; k++) {
      const p = new SseParser()
      const got = [...p.pushBytes(bytes.subarray(0, k)), ...p.pushBytes(bytes.subarray(k))]
      got.push(...p.end())
      expect(got, `split at ${k}`).toEqual(want)
    }
  })

  it('end() throws when the stream stops inside an event, not otherwise', () => {
    for (const partial of ['data: x', 'data: x\n', 'event: a\n', 'data: x\r\ndata'])
      expect(() => {
        const p = new SseParser()
        p.push(partial)
        p.end()
      }, partial).toThrow(/inside an event/)
    const p = new SseParser()
    p.push('data: x\n\n: trailing comment\n')
    expect(() => p.end()).not.toThrow()
  })

  it('parses SSE of a whole capture fed in random byte chunks', () => {
    const fx = fixture('envoy-ai-gateway-converse-stream-tooluse')
    const sse = concat(...framesOf(fx.bytes).map(sseFromFrame))
    const r = rng(5)
    for (let round = 0; round < 50; round++) {
      const p = new SseParser()
      const got: SseEvent[] = []
      for (let i = 0; i < sse.length; ) {
        const n = 1 + Math.floor(r() * 64)
        got.push(...p.pushBytes(sse.subarray(i, i + n)))
        i += n
      }
      got.push(...p.end())
      expect(got.map((e) => e.data)).toEqual(fx.expected.map((x) => x.payload))
    }
  })
})
