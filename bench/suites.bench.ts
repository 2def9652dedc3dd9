// Wall time of each suite on the reference targets, spawn to exit, as
// `mmconform run` spends it (KTAP discarded), three runs each, interleaved.

import { runSuites } from '../harness/runner.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { SUITES } from '../suites/index.ts';
import { fromSamples, progress, type BenchResult } from './run.ts';

export const name = 'suites';
const RUNS = 3;

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const targetName of ['reference:rfc', 'reference']) {
    const target = await resolveTarget(targetName);
    const samples = SUITES.map((): number[] => []);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, suite] of SUITES.entries()) {
        const t0 = performance.now();
        await runSuites(target, targetName, [suite], { stdout: () => {}, stderr: () => {} });
        samples[i]!.push(performance.now() - t0);
      }
    }
    progress(`${name}: ${targetName} done`);
    results.push(...fromSamples(name, `one run of each suite on ${targetName}`, 'run', 1, SUITES, samples));
  }
  return results;
}
