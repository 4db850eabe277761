/**
 * Runs the Bedrock simulator on `node:http`: one listener per region (ephemeral ports by default), each turning
 * IncomingMessage into a Web Request and streaming the Response body back chunk by chunk. A client that
 * disconnects aborts the request's signal (ending stalls) and cancels the response stream.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSimulator, type Simulator } from './handler'
import type { SimulatorOptions } from './types'
import { ConnectionReset } from './pipeline'

export { DEMO_ACCESS_KEY_ID, DEMO_API_KEY, DEMO_CREDENTIALS, DEMO_SECRET_ACCESS_KEY } from './demo-credentials'

export const DEFAULT_REGIONS = ['us-east-1', 'us-west-2', 'eu-west-1']

export interface StartSimulatorOptions extends SimulatorOptions {
  /** Default `['us-east-1', 'us-west-2', 'eu-west-1']`. */
  regions?: string[]
  /** Default `127.0.0.1`. */
  host?: string
  /** Fixed port per region; unset regions get an ephemeral port. */
  ports?: Record<string, number>
}

export interface RunningSimulator {
  /** region → base URL, e.g. `http://127.0.0.1:41234` (append `/model/{id}/converse`). */
  endpoints: Record<string, string>
  /** Base URL for the control API (the first region's listener); routes are under `/__sim/`. */
  controlUrl: string
  simulator: Simulator
  /** Ends stalls and streams, closes every listener and connection. */
  close(): Promise<void>
}

function toRequest(req: IncomingMessage, body: Uint8Array<ArrayBuffer>, base: string, signal: AbortSignal): Request {
  const headers = new Headers()
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1])
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  return new Request(`${base}${req.url ?? '/'}`, { method, headers, body: hasBody ? body : undefined, signal })
}

function waitDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}

async function sendResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {}
  response.headers.forEach((v, k) => {
    headers[k] = v
  })
  res.writeHead(response.status, headers)
  if (!response.body) {
    res.end()
    return
  }
  res.flushHeaders()
  const reader = response.body.getReader()
  res.on('close', () => {
    if (!res.writableFinished) reader.cancel().catch(() => {})
  })
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || res.destroyed) break
      if (!res.write(value)) await waitDrainOrClose(res)
    }
    if (!res.destroyed) res.end()
  } catch {
    // The stream errored (simulated cut): close the socket after flushing what was written, without the final
    // chunk, so the client sees a truncated body.
    if (res.socket) res.socket.end()
    else res.destroy()
  }
}

function listener(simulator: Simulator, region: string, base: () => string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const aborted = new AbortController()
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort()
    })
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => res.destroy())
    req.on('end', () => {
      const request = toRequest(req, new Uint8Array(Buffer.concat(chunks)), base(), aborted.signal)
      simulator
        .fetch(request, region)
        .then((response) => sendResponse(res, response))
        .catch((e: unknown) => {
          if (e instanceof ConnectionReset) return void (res.socket ? res.socket.destroy() : res.destroy())
          if (res.headersSent) return void res.destroy()
          res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'InternalServerException' })
          res.end(JSON.stringify({ message: `simulator error: ${e instanceof Error ? e.message : String(e)}` }))
        })
    })
  }
}

export async function startSimulator(options: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const { regions = DEFAULT_REGIONS, host = '127.0.0.1', ports = {}, ...simOptions } = options
  if (regions.length === 0) throw new Error('startSimulator: at least one region is required')
  const simulator = createSimulator(simOptions)
  const urlHost = host.includes(':') ? `[${host}]` : host
  const servers: http.Server[] = []
  const endpoints: Record<string, string> = {}
  try {
    for (const region of regions) {
      const server = http.createServer({ noDelay: true })
      server.on('request', listener(simulator, region, () => endpoints[region]))
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(ports[region] ?? 0, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      endpoints[region] = `http://${urlHost}:${(server.address() as AddressInfo).port}`
    }
  } catch (e) {
    for (const s of servers) s.close()
    throw e
  }
  let closing: Promise<void> | undefined
  return {
    endpoints,
    controlUrl: endpoints[regions[0]],
    simulator,
    close() {
      closing ??= (async () => {
        simulator.close()
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve())
                s.closeAllConnections()
              }),
          ),
        )
      })()
      return closing
    },
  }
}
