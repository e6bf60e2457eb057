import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Only *.test.ts: the log scan (test/logs/log-scan.check.ts) runs after the suite, over its logs (scripts/test.mjs).
    include: ['test/**/*.test.ts', 'core/**/*.test.ts', 'ca-server/**/*.test.ts', 'node-agent/**/*.test.ts', 'plugins/**/*.test.ts', 'cli/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
