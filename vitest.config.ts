import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['__test__/**/*.spec.ts'],
    // Native addons are not safe in worker threads; each test file gets its own process.
    pool: 'forks',
    // Two files at a time on this 2-core machine: the long specs (kernel guest under TCG,
    // interop) mostly wait on other processes. Every spec uses unique names, so they can overlap.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
