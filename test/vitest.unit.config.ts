import { defineConfig } from 'vitest/config';

// Unit tier: pure modules and routes through app.request() with fakes; never touches Docker.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/contract/**/*.test.ts'],
    environment: 'node',
    testTimeout: 10_000,
  },
});
