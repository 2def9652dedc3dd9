import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{model,harness,suites,reports,bench}/**/*.test.ts'],
    // Property files share fast-check; per-file isolation only costs start-up time.
    isolate: false,
    reporters: ['default'],
    setupFiles: ['suites/invariants/seed.ts'],
  },
});
