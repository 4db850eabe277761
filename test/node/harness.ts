/**
 * End-to-end harness: the Bedrock simulator (Node, three regions) and the router in workerd (Miniflare),
 * wired the way `npm start` wires them, with a config the test chooses.
 */
import { afterAll, afterEach, beforeAll } from 'vitest'
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import { startRouter, type RouterOptions, type RouterProcess } from '../../scripts/router-runtime'

export { CLIENT_KEY } from '../support/secrets'
import { CLIENT_KEY } from '../support/secrets'

export type Simulator = Awaited<ReturnType<typeof startSimulator>>

export interface Harness {
  simulator: Simulator
  router: RouterProcess
  /** POST to the simulator's control API. */
  control(path: string, body?: unknown, method?: string): Promise<any>
  close(): Promise<void>
}

export async function startHarness(
  makeConfig: (endpoints: Record<string, string>) => unknown,
  extraVars: Record<string, string> = {},
  routerOptions: Pick<RouterOptions, 'serviceBindings'> = {},
): Promise<Harness> {
  const simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2', 'eu-west-1'] })
  const router = await startRouter({
    vars: {
      ROUTER_CONFIG: JSON.stringify(makeConfig(simulator.endpoints)),
      ROUTER_API_KEYS: `${CLIENT_KEY},second-key`,
      AWS_ACCESS_KEY_ID: DEMO_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: DEMO_SECRET_ACCESS_KEY,
      ...extraVars,
    },
    ...routerOptions,
  })
  return {
    simulator,
    router,
    async control(path, body, method = body === undefined ? 'GET' : 'POST') {
      // A bounded wait: a simulator that stops answering fails the step that asked, never hangs the test.
      const res = await fetch(`${simulator.controlUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) })
      const text = await res.text()
      return text ? JSON.parse(text) : undefined
    },
    async close() {
      await router.close()
      await simulator.close()
    },
  }
}

/**
 * The simulator alone, for a file whose routers run in this process (createRouter, RouterModel): started before the
 * file's tests, reset after each, closed after all. `endpoints` are readable once the file's tests run.
 */
export function simulatorForFile(): { readonly endpoints: Record<string, string>; control(path: string, body?: unknown): Promise<any> } {
  let sim: Simulator | undefined
  const control = (path: string, body?: unknown) =>
    fetch(`${sim!.controlUrl}${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json() as Promise<any>)
  beforeAll(async () => {
    sim = await startSimulator({ regions: ['us-east-1', 'us-west-2', 'eu-west-1'] })
  })
  afterAll(() => sim?.close())
  afterEach(() => control('/__sim/reset', {}))
  return {
    get endpoints() {
      return sim!.endpoints
    },
    control,
  }
}
