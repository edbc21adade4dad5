import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fixture apps may hold files named like tests (an app's own), which are not this suite's.
    exclude: ['test/fixtures/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each file starts real servers with worker threads; on 2 cores, two files at a time is plenty.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
