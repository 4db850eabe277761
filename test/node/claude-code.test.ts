/**
 * Claude Code (`claude -p`) through the router, both ways it can be pointed at it, against the simulator. The CLI is
 * proprietary and a few hundred MB, so it is not a dependency: the test runs when CLAUDE_CODE_BIN names the
 * binary (e.g. after `npm install @anthropic-ai/claude-code` in a scratch folder) and is skipped otherwise.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLIENT_KEY, startHarness, type Harness } from './harness'

const BIN = process.env.CLAUDE_CODE_BIN
const SONNET = 'us.anthropic.claude-sonnet-4-6'

describe.skipIf(!BIN || !existsSync(BIN))('Claude Code through the router', () => {
  let h: Harness
  let home: string
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'claude-home-'))
    h = await startHarness((e) => ({
      pools: {
        demo: {
          deployments: [
            { id: 'use1', modelId: SONNET, region: 'us-east-1', endpoint: e['us-east-1'] },
            { id: 'usw2', modelId: SONNET, region: 'us-west-2', endpoint: e['us-west-2'] },
          ],
        },
      },
    }))
  })
  afterAll(async () => {
    await h?.close()
    rmSync(home, { recursive: true, force: true })
  })

  /** `claude -p` with only the given environment (nothing inherited but PATH), bounded in time. */
  function claude(env: Record<string, string>, prompt = 'Say hello'): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(BIN!, ['-p', prompt, '--tools', ''], {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          TERM: 'dumb',
          DISABLE_TELEMETRY: '1',
          DISABLE_AUTOUPDATER: '1',
          DISABLE_ERROR_REPORTING: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          CLAUDE_CODE_MAX_RETRIES: '0',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stdout, stderr })
      })
    })
  }

  it('gateway mode (Messages API), with a pool name and with a model ID', async () => {
    for (const model of ['demo', SONNET]) {
      const out = await claude({ ANTHROPIC_BASE_URL: h.router.url, ANTHROPIC_AUTH_TOKEN: CLIENT_KEY, ANTHROPIC_MODEL: model, ANTHROPIC_SMALL_FAST_MODEL: model })
      expect(out.stdout + out.stderr).toMatch(/Hello from us-(east-1|west-2)/)
      expect(out.code).toBe(0)
    }
  }, 200_000)

  it('Bedrock mode (InvokeModel with a Bedrock API key), one region throttling', async () => {
    await h.control('/__sim/rules', { region: 'us-east-1', fault: 'throttle' })
    const out = await claude({
      CLAUDE_CODE_USE_BEDROCK: '1',
      ANTHROPIC_BEDROCK_BASE_URL: h.router.url,
      AWS_BEARER_TOKEN_BEDROCK: CLIENT_KEY,
      AWS_REGION: 'us-east-1',
      ANTHROPIC_MODEL: 'demo',
      CLAUDE_CODE_PROVIDER_MANAGED_BY_HOST: '1',
    })
    expect(out.stdout + out.stderr).toMatch(/Hello from us-west-2/)
    expect(out.code).toBe(0)
    await h.control('/__sim/reset', {})
  }, 200_000)
})
