import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Property suites are CPU-bound; two workers match the two cores of the CI machine.
    pool: 'forks',
    maxWorkers: 2,
  },
});
