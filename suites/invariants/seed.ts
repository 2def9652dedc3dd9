// Configures fast-check with the run's seed (chosen in vitest.config.ts) and
// the number of runs per property (MMCONFORM_RUNS, default 2000: the rarest
// wrong helper mutants.test.ts knows shows in 1 sample of 100, so 200 runs
// let it through once in a hundred seeds, 2000 once in 10^9).
import fc from 'fast-check';

const raw = process.env['MMCONFORM_SEED'];
const seed = Number(raw);
if (raw === undefined || raw === '' || !Number.isSafeInteger(seed)) throw new Error(`MMCONFORM_SEED must be an integer, got "${raw}"`);
const numRuns = Number(process.env['MMCONFORM_RUNS'] ?? 2000);
if (!Number.isSafeInteger(numRuns) || numRuns < 1) throw new Error(`MMCONFORM_RUNS must be a positive integer, got "${process.env['MMCONFORM_RUNS']}"`);
fc.configureGlobal({ seed, numRuns });
