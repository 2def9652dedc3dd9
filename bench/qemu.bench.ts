// Wall time of `mmconform run --suite soft-dirty --suite madv_populate` as a
// user runs it (a fresh CLI process: build check, boot, both suites,
// power-off), on each QEMU target and, side by side, on the reference model
// of the same kernel. The goal: a QEMU run, boot included, under a minute.
// A target whose QEMU, compiler or kernel is missing is left out, saying why.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseQemuSpec, qemuUnavailable } from '../harness/targets/qemu.ts';
import { fromSamples, progress, type BenchResult } from './run.ts';

export const name = 'qemu';
const RUNS = 2;
const CLI = new URL('../bin/mmconform.js', import.meta.url).pathname;
const SUITES = ['--suite', 'soft-dirty', '--suite', 'madv_populate'];
const GOAL_MS = 60_000;

/** Each QEMU target with the reference target that gives the same KTAP (docs/real-kernels.md). */
const PAIRS = [
  { reference: 'reference@6.12', target: 'qemu-arm64' },
  { reference: 'reference:rfc@6.12', target: 'qemu-x86_64' },
] as const;

async function timeRun(target: string): Promise<number> {
  const t0 = performance.now();
  // exit 1 is a failing test (6.12's test_merge), not a failed run: only a missing exit code is
  await promisify(execFile)(process.execPath, [CLI, 'run', '--target', target, ...SUITES], { maxBuffer: 1 << 26 }).catch((e: unknown) => {
    if (typeof (e as { code?: unknown }).code !== 'number' || (e as { code: number }).code > 1) throw e;
  });
  return performance.now() - t0;
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const { reference, target } of PAIRS) {
    const unavailable = qemuUnavailable(parseQemuSpec(target));
    if (unavailable !== undefined) {
      progress(`${name}: ${target} left out: ${unavailable}`);
      continue;
    }
    const samples: number[][] = [[], []];
    for (let r = 0; r < RUNS; r++) {
      samples[0]!.push(await timeRun(reference));
      samples[1]!.push(await timeRun(target));
      progress(`${name}: ${target} run ${r + 1}/${RUNS}: ${(samples[1]![r]! / 1000).toFixed(1)} s`);
    }
    results.push(...fromSamples(name, `mmconform run, soft-dirty and madv_populate, boot included (${target})`, 'run', 1, [{ name: reference }, { name: target }], samples));
  }
  return results;
}

export function summary(results: readonly BenchResult[]): string {
  return results
    .filter((r) => r.variant.startsWith('qemu-'))
    .map((r) => `${r.variant}: ${(r.medianMs / 1000).toFixed(1)} s a run, boot included (${r.medianMs < GOAL_MS ? 'under' : 'over'} a minute), ${(1 / r.speedup).toFixed(0)}x the model's time`)
    .join('\n');
}
