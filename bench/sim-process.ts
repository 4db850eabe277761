/**
 * Child process for the benchmarks: the Bedrock simulator (default settings) on 127.0.0.1 in its own Node process,
 * so the load generator and the simulator do not share an event loop.
 *   argv[2]: regions, comma-separated (default us-east-1,us-west-2,eu-west-1)
 *   argv[3]: optional fixed port for the first region (80 for the Portkey comparison: see overhead.ts)
 * Prints one JSON line `{"endpoints": {...}, "controlUrl": "...", "pid": n}` once listening; exits when stdin closes
 * or on SIGTERM.
 */
import { startSimulator } from '../simulator/node-server'

const regions = (process.argv[2] || 'us-east-1,us-west-2,eu-west-1').split(',')
const firstPort = process.argv[3] ? Number(process.argv[3]) : undefined
try {
  const sim = await startSimulator({
    regions,
    host: '127.0.0.1',
    maxRecords: 1,
    ports: firstPort !== undefined ? { [regions[0]]: firstPort } : {},
  })
  process.stdout.write(`${JSON.stringify({ endpoints: sim.endpoints, controlUrl: sim.controlUrl, pid: process.pid })}\n`)
  const stop = () => void sim.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
} catch (e) {
  process.stdout.write(`${JSON.stringify({ error: e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` : String(e) })}\n`)
  process.exit(1)
}
