import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Stress tests start their own worker threads; on a 2-core machine they
    // are more telling one file at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    reporters: ['default', './test/summary-reporter.ts'],
    hookTimeout: 60_000,
  },
});
