import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Integration files each own a database and random queue names, so they run in parallel;
    // two at a time keeps the 2-core machine responsive.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
