import { defineConfig } from 'vitest/config';

/**
 * Three tiers, run by name (`vitest run --project unit`):
 * - unit: pure modules, and routes through app.request() with a fake runner; no Docker, no PostgreSQL
 *   (SQLite files in a temporary directory are the one store they use). test/unit mirrors src/.
 * - contract: the store's suites, the same cases on SQLite and on a real PostgreSQL.
 * - integration: a real Docker engine, no mocks; files one at a time (two cores, one engine).
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node', testTimeout: 10_000 } },
      { test: { name: 'contract', include: ['test/contract/**/*.test.ts'], environment: 'node', testTimeout: 30_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          // Wall-time bounds on a shared two-core machine: one retry absorbs a stall of the engine; a
          // real regression fails twice. Every failure still prints.
          retry: 1,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
