import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The log scan alone: scripts/test.mjs runs it after the suite (vitest.config.ts leaves *.check.ts out). */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { include: ['test/logs/log-scan.check.ts'], testTimeout: 120_000 },
});
