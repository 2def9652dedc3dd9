// Each ported selftest against the C program it ports, on the same kernel,
// side by side: the C binary built from the 7.2 tree and run as kselftest
// runs it, and the port run through the Target API, three runs each,
// interleaved. On linux-host always; in QEMU guests named in
// MMCONFORM_BENCH_QEMU (comma-separated targets, e.g. qemu-x86_64@current,qemu-arm64@stable),
// where the C program's time is measured in the guest and neither counts
// the boot; MMCONFORM_BENCH_SUITES (comma-separated suite names) times
// those alone. Each side runs once untimed first. Issue 14's bar: a port
// within 2x of the C (or within 50 ms of a program that takes less than
// 50 ms).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSelftest, linuxTree, parseMachine, runInGuest, runOnHost, type Machine } from '../harness/qemu/c-selftest.ts';
import { runSuites } from '../harness/runner.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { SUITES } from '../suites/index.ts';
import { DEBIAN_ARCH, SUITE } from '../harness/qemu/kernel-cache.ts';
import { parseQemuSpec } from '../harness/targets/qemu.ts';
import { BenchUsageError, fromSamples, progress, type BenchResult } from './run.ts';

export const name = 'ports';
const RUNS = 3;
const TREE = '7.2';
const TIMEOUT_MS = 600_000;
const C_SOURCE = /^tools\/testing\/selftests\/mm\/([\w-]+)\.c$/;

/** A target's machine as c-selftest.ts names it ("qemu-x86_64@current" -> "sid-amd64"); a one-line error for another name. */
function machineOf(target: string): Machine {
  if (target === 'linux-host') return parseMachine('host');
  try {
    const spec = parseQemuSpec(target);
    return parseMachine(`${SUITE[spec.generation]}-${DEBIAN_ARCH[spec.arch]}`);
  } catch (e) {
    throw new BenchUsageError(`MMCONFORM_BENCH_QEMU: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The suites MMCONFORM_BENCH_SUITES names, every one by default; an unknown name is an error. */
function suites(): typeof SUITES {
  const names = (process.env['MMCONFORM_BENCH_SUITES'] ?? '').split(',').filter(Boolean);
  for (const n of names) if (!SUITES.some((s) => s.name === n)) throw new BenchUsageError(`MMCONFORM_BENCH_SUITES: no suite "${n}" (known: ${SUITES.map((s) => s.name).join(', ')})`);
  return names.length ? SUITES.filter((s) => names.includes(s.name)) : SUITES;
}

async function samplesOn(targetName: string, machine: Machine, timed: typeof SUITES, dir: string): Promise<BenchResult[]> {
  const target = await resolveTarget(targetName);
  const results: BenchResult[] = [];
  try {
    for (const suite of timed) {
      const c = C_SOURCE.exec(suite.source)?.[1];
      if (c === undefined) continue;
      const binary = await buildSelftest(linuxTree(TREE), c, machine.arch, dir);
      const cMs: number[] = [];
      const portMs: number[] = [];
      const options = { timeoutMs: TIMEOUT_MS, output: () => {} };
      // one untimed run of each first: the port's first run compiles its code paths (twice its
      // warm time for madv_populate), the C program's first run loads the binary
      await (machine.kind === 'guest' ? runInGuest(machine, binary, options) : runOnHost(binary, options));
      await runSuites(target, targetName, [suite], { stdout: () => {}, stderr: () => {} });
      for (let r = 0; r < RUNS; r++) {
        cMs.push((machine.kind === 'guest' ? await runInGuest(machine, binary, options) : await runOnHost(binary, options)).wallMs);
        const t0 = performance.now();
        await runSuites(target, targetName, [suite], { stdout: () => {}, stderr: () => {} });
        portMs.push(performance.now() - t0);
      }
      progress(`${name}: ${suite.name} on ${targetName} done`);
      results.push(...fromSamples(name, `${suite.name} on ${targetName}`, 'run', 1, [{ name: 'C' }, { name: 'port' }], [cMs, portMs]));
    }
  } finally {
    await target.close();
  }
  return results;
}

export async function run(): Promise<BenchResult[]> {
  const targets = ['linux-host', ...(process.env['MMCONFORM_BENCH_QEMU'] ?? '').split(',').filter(Boolean)];
  // every name checked before the first run: a typo costs a line, not the host's runs
  const machines = targets.map(machineOf);
  const timed = suites();
  const dir = mkdtempSync(join(tmpdir(), 'mmconform-bench-ports-'));
  try {
    const results: BenchResult[] = [];
    for (const [i, t] of targets.entries()) results.push(...(await samplesOn(t, machines[i]!, timed, dir)));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each port's time as a multiple of the C program's, against issue 14's bar. */
export function summary(results: readonly BenchResult[]): string {
  return results
    .filter((r) => r.variant === 'port')
    .flatMap((r) => {
      const c = results.find((x) => x.group === r.group && x.variant === 'C');
      if (!c) return [];
      const within = r.medianMs <= 2 * c.medianMs || (c.medianMs < 50 && r.medianMs <= c.medianMs + 50);
      return [`${r.group}: C ${c.medianMs.toFixed(0)} ms, port ${r.medianMs.toFixed(0)} ms: ${(r.medianMs / c.medianMs).toFixed(1)}x (${within ? 'within' : 'outside'} the bar)`];
    })
    .join('\n');
}
