/**
 * `npm start`: serves the router on http://127.0.0.1:8787 (PORT and HOST override) inside workerd.
 *
 * - With ROUTER_CONFIG (JSON text, or a path to a JSON file): validates it and the environment first, and
 *   refuses to start with a list of what is wrong (no client keys, missing credentials, bad fields).
 * - Without it: demo mode. Starts the built-in Bedrock simulator (three regions) and routes to it, so routing
 *   and failover can be tried without an AWS account.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { checkEnvironment } from '../src/config/problems'
import { demoConfig } from './demo-config'
import { startRouter, workerVars } from './router-runtime'

async function main() {
  const port = Number(process.env.PORT ?? 8787)
  const host = process.env.HOST ?? '127.0.0.1'
  const env: Record<string, string | undefined> = { ...process.env }
  let demo: Awaited<ReturnType<typeof demoConfig>> | undefined

  if (!env.ROUTER_CONFIG) {
    demo = await demoConfig()
    env.ROUTER_CONFIG = JSON.stringify(demo.config)
    env.ROUTER_DEMO = '1'
    env.ROUTER_API_KEYS ??= demo.clientKey
    Object.assign(env, demo.credentialsEnv)
  } else {
    const raw = env.ROUTER_CONFIG.trim()
    if (!raw.startsWith('{')) {
      if (!existsSync(raw)) fail([`ROUTER_CONFIG is neither JSON nor a path to a file: ${raw}`])
      env.ROUTER_CONFIG = readFileSync(raw, 'utf8')
    }
    const { problems } = checkEnvironment(env)
    if (problems.length) fail(problems)
  }

  const inUse = `${host}:${port} is already in use: stop what listens there, or set PORT (and HOST)`
  // Asked before workerd binds: its own failure is a fatal line on stderr and, depending on timing, one of two errors.
  if (port !== 0 && (await portTaken(host, port))) fail([inUse])
  const router = await startRouter({ vars: workerVars(env), port, host, log: true }).catch((e: unknown) => {
    if ((e as { code?: string })?.code === 'ERR_ADDRESS_IN_USE') fail([inUse])
    throw e
  })
  const key = env.ROUTER_API_KEYS!.split(',')[0].trim()
  console.log(`Bedrock edge router listening on ${router.url}${demo ? ' (demo mode: built-in Bedrock simulator)' : ''}`)
  if (demo) {
    console.log(`  simulator regions: ${Object.entries(demo.simulator.endpoints).map(([r, u]) => `${r}=${u}`).join('  ')}`)
    console.log(`  demo client key:   ${key}`)
    console.log(`  pools:             ${Object.keys(demo.config.pools).join(', ')}`)
    console.log(`  pages:             ${router.url}/playground  ${router.url}/dashboard (demo mode: the admin pages need no key)`)
  }
  console.log('\nTry it:')
  console.log(
    `  curl -s ${router.url}/model/${demo ? 'demo' : Object.keys(JSON.parse(env.ROUTER_CONFIG!).pools)[0]}/converse -H 'authorization: Bearer ${demo ? key : '<your key>'}' -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}' -D - `,
  )
  if (demo) {
    console.log(`  # make us-east-1 throttle the next 3 requests, and watch x-router-failovers:`)
    console.log(`  curl -s -X POST ${demo.simulator.controlUrl}/__sim/rules -d '{"region":"us-east-1","fault":"throttle","times":3}'`)
    console.log(`  # stream as SSE:`)
    console.log(`  curl -sN ${router.url}/model/demo/converse-stream -H 'accept: text/event-stream' -H 'authorization: Bearer ${key}' -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":[{"text":"Hello"}]}]}'`)
  }
  const stop = async () => {
    await router.close()
    await demo?.simulator.close()
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

/** Whether something already listens on host:port (a listen that fails with EADDRINUSE). */
function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'))
    probe.listen(port, host, () => probe.close(() => resolve(false)))
  })
}

function fail(problems: string[]): never {
  console.error(`The router cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  process.exit(1)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
