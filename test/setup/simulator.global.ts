/**
 * Starts the Bedrock simulator (Node) for the workerd test project; tests reach it over 127.0.0.1 through
 * `inject('simulator')`.
 */
import type { TestProject } from 'vitest/node'
import { startSimulator } from '../../simulator/node-server'

export default async function setup(project: TestProject) {
  const simulator = await startSimulator({ regions: ['us-east-1', 'us-west-2', 'eu-west-1'] })
  project.provide('simulator', { endpoints: simulator.endpoints, controlUrl: simulator.controlUrl })
  return () => simulator.close()
}

declare module 'vitest' {
  export interface ProvidedContext {
    simulator: { endpoints: Record<string, string>; controlUrl: string }
  }
}
