import { expect, it } from 'vitest'
import { benchFraming, realCaptureBytes } from './framing'
import { fixture } from '../../test/support/fixtures'

it('benchFraming runs on the embedded real capture (no timing assertions)', async () => {
  expect(Array.from(realCaptureBytes())).toEqual(Array.from(fixture('vercel-issue-18994-live-sonnet-4-6').bytes))
  const r = await benchFraming(5)
  expect(r.frames).toBe(6)
  for (const v of [r.usPerFrame, r.usPerFrameChunked, r.usPerFrameFramingOnly, r.usPerFrameSseOnly, r.usPerFrameNaive]) expect(Number.isFinite(v)).toBe(true)
})
