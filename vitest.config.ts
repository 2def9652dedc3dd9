import { defineConfig } from 'vitest/config';

// One fast-check seed for the whole run, chosen here (once, in the main
// process) and handed to every worker, so a failure replays with
// MMCONFORM_SEED=<seed> npm test.
const seed = process.env['MMCONFORM_SEED'] || String((Date.now() ^ (Math.random() * 0x7fffffff)) | 0);
process.stderr.write(`fast-check seed ${seed} (replay: MMCONFORM_SEED=${seed} npm test)\n`);

export default defineConfig({
  test: {
    include: ['{model,harness,suites,reports,mutants,cli,bench,uapi,examples}/**/*.test.ts'],
    // Property files share fast-check; per-file isolation only costs start-up time.
    isolate: false,
    reporters: ['default'],
    env: { MMCONFORM_SEED: seed },
    setupFiles: ['suites/invariants/seed.ts'],
  },
});
