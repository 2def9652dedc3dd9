// The runner against kselftest's runner.sh: the KTAP it prints around each
// program, and how every way a suite can end (exit status, signal, bug,
// dead target, timeout, interrupt) becomes a result while the others run.

import { describe, expect, test } from 'vitest';
import { Errno } from '../uapi/linux.ts';
import { runExitStatus, runSuites, type RunOptions, type RunReport } from './runner.ts';
import type { Selftest, Suite } from './suite.ts';
import type { Proc, Target } from './target.ts';
import { fakeProc, fakeTarget } from './testing/fake-target.ts';
import { store } from './user-memory.ts';
import { softDirty } from '../suites/selftests/soft-dirty.ts';

function suite(name: string, run: (t: Selftest) => Promise<void>): Suite {
  return { name, source: `tools/testing/selftests/mm/${name}.c`, tests: [], run };
}

const passing = suite('passing', async ({ ksft }) => {
  ksft.printHeader();
  ksft.setPlan(2);
  ksft.printMsg('[RUN] both');
  ksft.testResultPass('Test one');
  ksft.testResultSkip('Test two');
  ksft.finished();
});

const skipped = suite('skipped', async ({ ksft }) => {
  ksft.printHeader();
  ksft.exitSkip('feature is not available');
});

const failing = suite('failing', async ({ ksft }) => {
  ksft.setPlan(1);
  ksft.testResultFail('Test one');
  ksft.finished();
});

interface Outcome {
  readonly report: RunReport;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(target: Target, suites: readonly Suite[], options: Partial<RunOptions> = {}): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  let clock = 0;
  const report = await runSuites(target, 'fake', suites, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    now: () => (clock += 1),
    ...options,
  });
  return { report, stdout, stderr };
}

describe('KTAP as run_kselftest.sh prints it', () => {
  test('a plan per run, each program nested under "# ", a line per program from its exit status, totals', async () => {
    const { stdout, stderr, report } = await run(fakeTarget(), [passing, skipped, failing]);
    expect(stdout).toBe(
      [
        'TAP version 13',
        '1..3',
        '# timeout set to 900',
        '# selftests: mm: passing',
        '# TAP version 13',
        '# 1..2',
        '# # [RUN] both',
        '# ok 1 Test one',
        '# ok 2 # SKIP Test two',
        '# # 1 skipped test(s) detected. Consider enabling relevant config options to improve coverage.',
        '# # Totals: pass:1 fail:0 xfail:0 xpass:0 skip:1 error:0',
        'ok 1 selftests: mm: passing',
        '# timeout set to 900',
        '# selftests: mm: skipped',
        '# TAP version 13',
        '# 1..0 # SKIP feature is not available',
        'ok 2 selftests: mm: skipped # SKIP',
        '# timeout set to 900',
        '# selftests: mm: failing',
        '# 1..1',
        '# not ok 1 Test one',
        '# # Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0',
        'not ok 3 selftests: mm: failing # exit=1',
        '# 1 skipped test(s) detected.  Consider enabling relevant config options to improve coverage.',
        '# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0',
        '',
      ].join('\n'),
    );
    // a start line, a line per program, the total
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^mmconform: 3 suite\(s\) on /);
    expect(lines[1]).toMatch(/^\[1\/3\] passing: pass \(exit=0\) in [\d.]+ s/);
    expect(lines[4]).toMatch(/^mmconform: 3 result\(s\) in 3 suite\(s\): 1 pass, 1 fail, 1 skip, 0 error; [\d.]+ s$/);
    expect(report.suites.map((s) => [s.exit.status, s.exit.code, s.plan])).toEqual([
      ['pass', 0, 2],
      ['skip', 4, 0],
      ['fail', 1, 1],
    ]);
    expect(report.suites[1]).toMatchObject({ results: [], exit: { reason: 'feature is not available' } });
    expect(report.target).toEqual({ name: 'fake', arch: 'arm64', layout: 'v6.10', kernel: '6.12' });
    expect(runExitStatus(report)).toBe(1);
    expect(runExitStatus((await run(fakeTarget(), [passing, skipped])).report)).toBe(0);
  });

  test('a port on the fake target: soft-dirty prints its 19 results and fails them honestly', async () => {
    const { stdout, report } = await run(fakeTarget(), [softDirty]);
    expect(stdout).toContain('# 1..19\n# # dirty bit was 0, but should be 1 (i=0)\n# not ok 1 Test test_simple\n');
    expect(stdout).toContain('# ok 3 # SKIP Test test_vma_reuse dirty bit of reused address page\n');
    expect(stdout).toContain('not ok 1 selftests: mm: soft-dirty # exit=1\n');
    expect(report.suites[0]?.results).toHaveLength(19);
  });
});

describe('a suite that cannot finish ends with an error result; the next one still runs', () => {
  const bug = suite('bug', async ({ ksft }) => {
    ksft.setPlan(2);
    ksft.testResultPass('Test one');
    throw new TypeError("Cannot read properties of undefined (reading 'x')\n    at somewhere");
  });

  test('an exception in the port: the reason under the program, "# ERROR", an error result', async () => {
    const { stdout, report } = await run(fakeTarget(), [bug, passing]);
    expect(stdout).toContain(
      "# ok 1 Test one\n# mmconform: error: Cannot read properties of undefined (reading 'x') at somewhere\nnot ok 1 selftests: mm: bug # ERROR\n",
    );
    expect(stdout).toContain('ok 2 selftests: mm: passing\n');
    const [bugReport] = report.suites;
    expect(bugReport?.exit).toEqual({ status: 'error', code: null, reason: "Cannot read properties of undefined (reading 'x') at somewhere" });
    expect(bugReport?.results.map((r) => [r.n, r.name, r.status])).toEqual([
      [1, 'Test one', 'pass'],
      [2, 'selftests: mm: bug', 'error'],
    ]);
    expect(runExitStatus(report)).toBe(1);
  });

  test('a process whose calls reject (a target that died)', async () => {
    const dead = fakeTarget(async () => fakeProc({ mmap: () => Promise.reject(new Error('agent: connection reset')) }));
    const { report } = await run(dead, [softDirty, passing]);
    expect(report.suites[0]?.exit).toMatchObject({ status: 'error', reason: 'agent: connection reset' });
    expect(report.suites[1]?.exit.status).toBe('pass');
  });

  test('spawn() failing, info() failing, exit() failing', async () => {
    const noSpawn = fakeTarget(() => Promise.reject(new Error('out of processes')));
    expect((await run(noSpawn, [passing])).report.suites[0]?.exit).toMatchObject({ status: 'error', reason: 'out of processes' });

    const noInfo: Target = { ...fakeTarget(), info: () => Promise.reject(new Error('no answer')) };
    const { report } = await run(noInfo, [passing, skipped]);
    expect(report.target).toEqual({ name: 'fake', arch: 'unknown', layout: null, kernel: 'unknown' });
    expect(report.suites.map((s) => s.exit.reason)).toEqual(['info(): no answer', 'info(): no answer']);

    const noExit = fakeTarget(async () => fakeProc({ exit: () => Promise.reject(new Error('hung up')) }));
    expect((await run(noExit, [passing])).report.suites[0]?.exit).toMatchObject({ status: 'error', reason: 'exit(): hung up' });
  });

  test('a store that faults kills the program: the shell\'s "Segmentation fault", exit=128+11', async () => {
    const crash = suite('crash', async (t) => {
      t.ksft.setPlan(2);
      t.ksft.testResultPass('Test one');
      await store(t.proc, 0x1000n, Uint8Array.of(1));
    });
    const segv = fakeTarget(async () => fakeProc({ write: async (addr) => ({ ok: false, signal: 'SIGSEGV', addr }) }));
    const { stdout, report } = await run(segv, [crash]);
    expect(stdout).toContain('# ok 1 Test one\n# Segmentation fault\nnot ok 1 selftests: mm: crash # exit=139\n');
    expect(report.suites[0]?.exit).toEqual({ status: 'error', code: 139, reason: 'killed by SIGSEGV at 0x1000' });
    expect(report.suites[0]?.results[1]).toMatchObject({ n: 2, status: 'error', reason: 'killed by SIGSEGV at 0x1000' });
  });
});

describe('timeouts and interrupts', () => {
  const forever = suite('forever', async ({ ksft }) => {
    ksft.setPlan(1);
    await new Promise<void>((resolve) => setTimeout(resolve, 200));
    ksft.printMsg('too late');
  });

  test('a suite over its time: runner.sh\'s TIMEOUT line, its process exited, its later output dropped', async () => {
    const exits: number[] = [];
    const target = fakeTarget(async () => fakeProc({ exit: async () => void exits.push(1) }));
    const { stdout, report } = await run(target, [forever, passing], { timeoutSeconds: 0.02 });
    expect(stdout).toContain('# timeout set to 0.02\n# selftests: mm: forever\n# 1..1\nnot ok 1 selftests: mm: forever # TIMEOUT 0.02 seconds\n');
    expect(report.suites[0]?.exit).toEqual({ status: 'error', code: 124, reason: 'TIMEOUT 0.02 seconds' });
    expect(report.suites[1]?.exit.status).toBe('pass');
    expect(exits).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(stdout).not.toContain('too late');
  });

  test('a suite busy on a target that answers at once still times out, and stops once cut short', async () => {
    let calls = 0;
    const busy = suite('busy', async ({ proc }) => {
      for (;;) await proc.madvise(0n, 4096n, 0);
    });
    const counting = fakeTarget(async () => fakeProc({ madvise: async () => (calls++, 0) }));
    const { report } = await run(counting, [busy, passing], { timeoutSeconds: 0.02 });
    expect(report.suites.map((s) => s.exit.status)).toEqual(['error', 'pass']);
    const after = calls;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls).toBe(after);
  });

  test('SIGINT during a suite: its results so far and an error, no further suites, exit status 130', async () => {
    const interrupt = new AbortController();
    const interrupted = suite('interrupted', async ({ ksft }) => {
      ksft.setPlan(2);
      ksft.testResultPass('Test one');
      interrupt.abort('SIGINT');
      await new Promise(() => {});
    });
    const { stdout, report } = await run(fakeTarget(), [interrupted, passing], { signal: interrupt.signal });
    expect(stdout).toContain('# ok 1 Test one\nnot ok 1 selftests: mm: interrupted # exit=130\n# Totals: pass:0 fail:1');
    expect(stdout).not.toContain('passing');
    expect(report.interrupted).toBe('SIGINT');
    expect(report.suites).toHaveLength(1);
    expect(report.suites[0]?.results.map((r) => [r.status, r.reason])).toEqual([
      ['pass', null],
      ['error', 'interrupted by SIGINT'],
    ]);
    expect(runExitStatus(report)).toBe(130);
  });

  test('SIGTERM before a suite starts: nothing more runs, exit status 143', async () => {
    const interrupt = new AbortController();
    interrupt.abort('SIGTERM');
    const { report } = await run(fakeTarget(), [passing], { signal: interrupt.signal });
    expect(report.suites).toEqual([]);
    expect(runExitStatus(report)).toBe(143);
  });
});

test('a failing errno is a value the port checks, not a rejection', async () => {
  const noMmap = fakeTarget(async (): Promise<Proc> => fakeProc({ mmap: async () => new Errno('ENOMEM', 'mmap') }));
  const { stdout, report } = await run(noMmap, [softDirty]);
  expect(stdout).toContain('# Bail out! mmap failed\n');
  expect(report.suites[0]?.exit).toEqual({ status: 'fail', code: 1, reason: 'mmap failed' });
});
