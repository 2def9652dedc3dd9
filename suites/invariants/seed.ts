// One fast-check seed per test run, printed so a failure can be replayed:
// MMCONFORM_SEED=<seed> npm test
import fc from 'fast-check';

const fromEnv = process.env['MMCONFORM_SEED'];
const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Date.now() ^ (Math.random() * 0x100000000);
if (!Number.isSafeInteger(seed)) throw new Error(`MMCONFORM_SEED must be an integer, got "${fromEnv}"`);
const numRuns = Number(process.env['MMCONFORM_RUNS'] ?? 200);
fc.configureGlobal({ seed, numRuns });
if (!(globalThis as { __mmconformSeedShown?: boolean }).__mmconformSeedShown) {
  (globalThis as { __mmconformSeedShown?: boolean }).__mmconformSeedShown = true;
  process.stderr.write(`fast-check seed ${seed} (replay: MMCONFORM_SEED=${seed} npm test)\n`);
}
