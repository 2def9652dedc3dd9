// The differential fuzzer's rate on each target: the same generated
// sequences (a fixed seed) run one after the other through runSequence(),
// on the reference model and on each real kernel at hand, side by side.
// A fuzz campaign runs both sides of a pair, so its rate is about the
// slower side's. Then focused sequences (as `mmconform fuzz --target T`
// draws them) judged by the oracles on one target: the model with
// soft-dirty, and the host.

import fc from 'fast-check';
import { buildAgent } from '../harness/agent/build.ts';
import { parseQemuSpec, qemuUnavailable } from '../harness/targets/qemu.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { callSequence } from '../suites/fuzz/calls.ts';
import { judgeSequence, runSequence } from '../suites/fuzz/sequence.ts';
import { fromSamples, progress, type BenchResult } from './run.ts';

export const name = 'fuzz';
const SEQUENCES = 100;
const RUNS = 3;
const SEED = 2026;

/** The targets at hand: the model as the host runs THP, the host, and the 7.2 arm64 guest. */
async function targets(): Promise<string[]> {
  const out = ['reference+swap=0+hugetlb=0+thp=madvise'];
  if (await buildAgent().then(() => true, () => false)) out.push('linux-host');
  else progress(`${name}: linux-host left out: no C compiler`);
  const unavailable = qemuUnavailable(parseQemuSpec('qemu-arm64@current'));
  if (unavailable === undefined) out.push('qemu-arm64@current');
  else progress(`${name}: qemu-arm64@current left out: ${unavailable}`);
  return out;
}

/** calls a run makes, each target's log lines counted on its last run */
const calls = new Map<string, number>();

export async function run(): Promise<BenchResult[]> {
  // the mix a cross-architecture run draws: linux-host may be x86_64
  const seqs = fc.sample(callSequence({ hugetlb: false, uffdWp: true, sameArch: false }), { seed: SEED, numRuns: SEQUENCES });
  const names = await targets();
  const samples: number[][] = names.map(() => []);
  for (const [i, n] of names.entries()) {
    const t = await resolveTarget(n);
    try {
      for (let r = 0; r < RUNS; r++) {
        let lines = 0;
        const t0 = performance.now();
        for (const s of seqs) lines += (await runSequence(t, s)).length;
        samples[i]!.push(performance.now() - t0);
        calls.set(n, lines);
      }
      progress(`${name}: ${n}: ${(samples[i]![RUNS - 1]! / 1000).toFixed(2)} s for ${SEQUENCES} sequences`);
    } finally {
      await t.close();
    }
  }
  const focused = fc.sample(callSequence({ hugetlb: false, uffdWp: true, sameArch: false }, null, 40, true), { seed: SEED, numRuns: SEQUENCES });
  const judged = ['reference:rfc', ...names.filter((n) => n === 'linux-host')];
  const judgedSamples: number[][] = judged.map(() => []);
  for (const [i, n] of judged.entries()) {
    const t = await resolveTarget(n);
    try {
      const caps = await t.capabilities();
      for (let r = 0; r < RUNS; r++) {
        const t0 = performance.now();
        for (const s of focused) await judgeSequence(t, s, caps);
        judgedSamples[i]!.push(performance.now() - t0);
      }
      progress(`${name}: ${n} judged by the oracles: ${(judgedSamples[i]![RUNS - 1]! / 1000).toFixed(2)} s for ${SEQUENCES} sequences`);
    } finally {
      await t.close();
    }
  }
  return [
    ...fromSamples(name, `${SEQUENCES} generated sequences, run one after the other`, 'sequence', SEQUENCES, names.map((n) => ({ name: n })), samples),
    ...fromSamples(name, `${SEQUENCES} focused sequences judged by the oracles`, 'sequence', SEQUENCES, judged.map((n) => ({ name: n })), judgedSamples),
  ];
}

export function summary(results: readonly BenchResult[]): string {
  return results
    .map((r) =>
      r.group.includes('oracles')
        ? `${r.variant}, judged by the oracles: ${((r.ops * 1000) / r.medianMs).toFixed(1)} sequences/s`
        : `${r.variant}: ${((r.ops * 1000) / r.medianMs).toFixed(1)} sequences/s, ${(((calls.get(r.variant) ?? 0) * 1000) / r.medianMs).toFixed(0)} calls/s`,
    )
    .join('\n');
}
