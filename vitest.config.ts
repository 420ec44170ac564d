import { defineConfig } from 'vitest/config';

// The whole suite runs twice: on SharedMap, and on LocalMap (the
// single-instance build, WASMAP_MAP=local), where tests of sharing between
// threads are skipped (test/helpers.ts `shared`). The checks in browsers and
// other runtimes run once.
const suite = {
  include: ['test/**/*.test.ts'],
  testTimeout: 120_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // Stress tests start their own worker threads; on a 2-core machine they
    // are more telling one file at a time.
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { test: { ...suite, name: 'shared' } },
      {
        test: {
          ...suite,
          name: 'local',
          env: { WASMAP_MAP: 'local' },
          // Checks of the package in other runtimes: they run SharedMap and
          // LocalMap themselves, once.
          exclude: ['test/browser*.test.ts', 'test/runtimes-*.test.ts'],
        },
      },
    ],
  },
});
