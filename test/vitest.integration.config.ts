import { defineConfig } from 'vitest/config';

// Real Docker engine, no mocks. Files run one at a time: two cores, one engine.
export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/helpers/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    // Wall-time bounds on a shared two-core machine: one retry absorbs a stall of the engine; a real
    // regression fails twice. Every failure still prints.
    retry: 1,
    hookTimeout: 60_000,
  },
});
