import type { TestProject } from 'vitest/node'
export default async function setup(project: TestProject) {
  project.provide('simulatorUrl', 'http://127.0.0.1:1')
}
declare module 'vitest' {
  export interface ProvidedContext { simulatorUrl: string }
}
