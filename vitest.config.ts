import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

/**
 * Two projects:
 * - `workerd`: unit and worker tests running inside workerd (the vitest Workers pool).
 * - `node`: end-to-end tests that start the router in workerd (Miniflare, as `npm start` does) and drive it
 *   with real clients (AWS SDK, fetch) against the Bedrock simulator.
 */
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: { ROUTER_DEMO: 'test' } },
          }),
        ],
        test: {
          name: 'workerd',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts', 'bench/lib/**/*.test.ts'],
          globalSetup: ['./test/setup/simulator.global.ts'],
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts', 'simulator/**/*.test.ts', 'simulation/**/*.test.ts', 'scripts/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['./test/setup/record-responses.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
