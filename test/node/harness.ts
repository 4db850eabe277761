/**
 * End-to-end harness: the Bedrock simulator (Node, three regions) and the router in workerd (Miniflare),
 * wired the way `npm start` wires them, with a config the test chooses.
 */
import { DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY } from '../../simulator/demo-credentials'
import { startSimulator } from '../../simulator/node-server'
import { startRouter, type RouterOptions, type RouterProcess } from '../../scripts/router-runtime'

export const CLIENT_KEY = 'test-client-key-1'

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
      const res = await fetch(`${simulator.controlUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } })
      const text = await res.text()
      return text ? JSON.parse(text) : undefined
    },
    async close() {
      await router.close()
      await simulator.close()
    },
  }
}
