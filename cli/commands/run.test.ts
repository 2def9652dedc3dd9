// `mmconform run`, `list` and `targets` as a user meets them: bad input is
// one line and exit 2; a run on the reference target writes KTAP, JSON and
// JUnit and exits by its results.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import type { ResultsJson } from '../../reports/results-json.ts';
import { SUITES } from '../../suites/index.ts';
import { expectUsageError, mmconform } from '../testing.ts';

const dir = mkdtempSync(join(tmpdir(), 'mmconform-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bad input: exit 2 and one line on stderr, nothing run', () => {
  const badInputs: [string, string[], string][] = [
    ['an unknown suite', ['run', '--suite', 'soft_dirty'], `run: unknown suite "soft_dirty" (known: ${SUITES.map((s) => s.name).join(', ')})`],
    ['an unknown target', ['run', '--target', 'qemu'], 'run: --target qemu: unknown target "qemu" (known: reference, reference:v6.9, reference:rfc'],
    ['a reference layout that does not exist', ['run', '--target', 'reference:nonesuch'], 'run: --target reference:nonesuch: '],
    ['an unknown option', ['run', '--bogus'], "run: unknown option '--bogus'"],
    ['a missing option value', ['run', '--json'], "run: option '--json <value>' argument missing"],
    ['a positional argument', ['run', 'soft-dirty'], "run: unexpected argument 'soft-dirty'"],
    ['list with an argument', ['list', 'soft-dirty'], "list: unexpected argument 'soft-dirty'"],
    ['targets with an option', ['targets', '--all'], "targets: unknown option '--all'"],
  ];

  test.each(badInputs)('%s', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('from the command line too: no stack trace', async () => {
    const bin = fileURLToPath(new URL('../../bin/mmconform.js', import.meta.url));
    const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, 'run', '--target', 'nonesuch'], (err, _stdout, stderr) =>
        resolve({ code: err ? (err.code as number) : 0, stderr }),
      );
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^mmconform: run: --target nonesuch: unknown target "nonesuch"[^\n]*\n$/);
  });
});

test('list: each suite, its C source, the results it prints', async () => {
  const { code, stdout } = await mmconform('list');
  expect(code).toBe(0);
  expect(stdout).toContain('soft-dirty (tools/testing/selftests/mm/soft-dirty.c)\n  Test test_simple\n');
  expect(stdout).toContain('\n  range is softdirty after MADV_POPULATE_WRITE \n');
  expect(stdout.split('\n').filter((line) => line.startsWith('  '))).toHaveLength(SUITES.reduce((n, s) => n + s.tests.length, 0));
});

test('targets: a line per name --target takes', async () => {
  const { code, stdout } = await mmconform('targets');
  expect(code).toBe(0);
  expect(stdout.split('\n').map((line) => line.split(' ')[0])).toEqual(['reference', 'reference:v6.9', 'reference:rfc', 'reference:v6.10', 'reference:FILE', 'linux-host', 'exec:CMD', 'module:PATH', 'qemu-arm64', 'qemu-x86_64', '']);
});

test('targets: one this machine cannot run says why', async () => {
  const saved = process.env['MMCONFORM_NO_QEMU'];
  process.env['MMCONFORM_NO_QEMU'] = '1';
  try {
    const { stdout } = await mmconform('targets');
    expect(stdout.split('\n').filter((l) => l.includes('[cannot run here: ')).map((l) => l.split(' ')[0])).toEqual(['qemu-arm64', 'qemu-x86_64']);
    expect(stdout).toMatch(/^qemu-arm64 .*\[cannot run here: MMCONFORM_NO_QEMU is set\]$/m);
  } finally {
    if (saved === undefined) delete process.env['MMCONFORM_NO_QEMU'];
    else process.env['MMCONFORM_NO_QEMU'] = saved;
  }
});

describe('run on the reference target', () => {
  test('rfc (soft-dirty in bit 63): KTAP on stdout, progress on stderr, JSON and JUnit written, exit by the results', async () => {
    const json = join(dir, 'r.json');
    const junit = join(dir, 'r.xml');
    const { code, stdout, stderr } = await mmconform('run', '--target', 'reference:rfc', '--json', json, '--junit', junit);
    expect(stdout).toMatch(new RegExp(`^TAP version 13\\n1\\.\\.${SUITES.length}\\n# timeout set to 900\\n# selftests: mm: soft-dirty\\n# TAP version 13\\n# 1\\.\\.19\\n`));
    const lines = stderr.split('\n').filter(Boolean);
    expect(lines[0]).toBe(`mmconform: ${SUITES.length} suite(s) on reference:rfc (arm64, kernel 7.2, layout rfc)`);
    // a line per suite when it ends (and one every 10 s while a long one runs), then the total
    expect(lines.filter((l) => / in [\d.]+ s, /.test(l)).map((l) => /^\[(\d+)\/(\d+)\] ([\w-]+): /.exec(l)?.slice(1))).toEqual(
      SUITES.map((s, i) => [String(i + 1), String(SUITES.length), s.name]),
    );
    expect(lines.at(-1)).toMatch(/^mmconform: \d+ result\(s\) in \d+ suite\(s\): \d+ pass, \d+ fail, \d+ skip, \d+ error; [\d.]+ s$/);
    const results = JSON.parse(readFileSync(json, 'utf8')) as ResultsJson;
    expect(results.target).toEqual({ name: 'reference:rfc', arch: 'arm64', layout: 'rfc', kernel: expect.any(String) });
    expect(results.suites.map((s) => [s.name, s.plan, s.results.map((r) => r.name)])).toEqual(SUITES.map((s) => [s.name, s.tests.length, s.tests]));
    expect(code).toBe(results.totals.fail + results.totals.error > 0 ? 1 : 0);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuite name="reference:rfc: soft-dirty" tests="19"');
  }, 120_000);

  test('v6.10 (no soft-dirty): soft-dirty skips as a whole, as on a real arm64 kernel', async () => {
    const { stdout } = await mmconform('run', '--suite', 'soft-dirty');
    expect(stdout).toContain('# 1..0 # SKIP soft-dirty is not support\nok 1 selftests: mm: soft-dirty # SKIP\n');
  });

  // each found before the first suite runs (issue 13, defect 3: they were found only after every suite)
  test.each([
    ['a missing directory', ['--json', join(dir, 'missing', 'r.json')], /^mmconform: run: cannot write [^\n]+missing\/r\.json: ENOENT[^\n]*\n$/],
    ['a directory', ['--json', dir], /^mmconform: run: --json [^\n]+: a directory\n$/],
    ['an empty name', ['--junit', ''], /^mmconform: run: --junit: an empty file name\n$/],
    ['the same file twice', ['--json', join(dir, 'same'), '--junit', join(dir, '.', 'same')], /^mmconform: run: --json and --junit name the same file, [^\n]+\n$/],
  ])('a report file that cannot be written (%s): exit 2, one line, nothing run', async (_, args, message) => {
    const { code, stdout, stderr } = await mmconform('run', '--suite', 'soft-dirty', ...args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  test('a file that fails only when written (/dev/full): the other report is written all the same, exit 2', async () => {
    const junit = join(dir, 'good.xml');
    const { code, stderr } = await mmconform('run', '--suite', 'soft-dirty', '--json', '/dev/full', '--junit', junit);
    expect(code).toBe(2);
    expect(stderr).toMatch(/\nmmconform: run: cannot write \/dev\/full: ENOSPC[^\n]*\n$/);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuite name="reference: soft-dirty"');
  });
});

// A reader that stops early (`| head -c 10`) used to turn the run into a success with nothing written.
test('a closed stdout stops the run as SIGPIPE would: exit 141, the results so far written, one line on stderr', async () => {
  const bin = fileURLToPath(new URL('../../bin/mmconform.js', import.meta.url));
  const json = join(dir, 'piped.json');
  const child = spawn(process.execPath, [bin, 'run', '--target', 'reference:rfc', '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  expect(code).toBe(141);
  expect(stderr).toMatch(/\nmmconform: run: stopped by SIGPIPE \(stdout was closed\) after \d of \d suites\n$/);
  const results = JSON.parse(readFileSync(json, 'utf8')) as ResultsJson;
  expect(results.suites.length).toBeGreaterThan(0);
}, 60_000);

test('--version: the package version, exit 0', async () => {
  const { code, stdout } = await mmconform('--version');
  expect(code).toBe(0);
  expect(stdout).toMatch(/^mmconform \d+\.\d+\.\d+\n$/);
});

// issue 13: `help run` printed every command, and `list --help` was an error
test.each(['layout', 'run', 'compare', 'fuzz', 'list', 'targets'])('%s --help, -h and `help %s`: that command\'s usage alone, exit 0', async (name) => {
  const outs = await Promise.all([mmconform(name, '--help'), mmconform(name, '-h'), mmconform('help', name)]);
  for (const { code, stdout } of outs) {
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: mmconform ${name}\\b`));
    expect(stdout).not.toContain('commands:');
  }
  expect(new Set(outs.map((o) => o.stdout)).size).toBe(1);
});

test('help for an unknown command: one line, exit 2', async () => {
  const { code, stderr } = await mmconform('help', 'nope');
  expect([code, stderr]).toEqual([2, 'mmconform: unknown command "nope" (see mmconform --help)\n']);
});

test('--test PATTERN: the suites holding a chosen result run, their KTAP the chosen results renumbered; JSON alike', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmconform-test-'));
  try {
    const json = join(dir, 'r.json');
    const { code, stdout } = await mmconform('run', '--test', 'Huge page testing: *', '--test', 'uffd-unreg-reset', '--json', json);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^TAP version 13\n1\.\.2\n# timeout set to 900\n# selftests: mm: pagemap_ioctl\n# TAP version 13\n# 1\.\.6\n# ok 1 Huge page testing: all new pages must not be written \(dirty\)\n/);
    expect(stdout).toContain('ok 1 selftests: mm: pagemap_ioctl\n');
    expect(stdout).toMatch(/# 1\.\.1\n# ok 1 uffd-unreg-reset[^\n]*\nok 2 selftests: mmconform: regressions-uffd-wp\n/);
    const results = JSON.parse(readFileSync(json, 'utf8')) as ResultsJson;
    expect(results.suites.map((s) => [s.name, s.results.length, s.exit.status])).toEqual([
      ['pagemap_ioctl', 6, 'pass'],
      ['regressions-uffd-wp', 1, 'pass'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

test('--test that matches nothing, or an empty one: one line, exit 2, nothing run', async () => {
  await expectUsageError(['run', '--test', 'no such result'], 'run: --test no such result matches no result of the suites asked for (see mmconform list)');
  await expectUsageError(['run', '--test', ''], 'run: --test: an empty pattern (it would choose every result)');
});

test('--filter TEXT: uffd-unit-tests as its C program runs with -f TEXT, only the tests whose name holds it', async () => {
  const { code, stdout } = await mmconform('run', '--suite', 'uffd-unit-tests', '--filter', 'move-pmd');
  expect(code).toBe(0);
  const results = [...stdout.matchAll(/^# (ok|not ok) \d+ (.*)$/gm)].map((m) => m[2]);
  expect(stdout).toContain(`# 1..${results.length}\n`);
  expect(results.length).toBeGreaterThan(0);
  for (const name of results) expect(name).toContain('move-pmd');
}, 60_000);

test('--filter without --suite, for suites that take none, or an empty one: one line, exit 2, nothing run', async () => {
  await expectUsageError(['run', '--filter', 'move'], 'run: --filter needs --suite, naming suites that take a test filter (uffd-unit-tests)');
  await expectUsageError(['compare', '--targets', 'reference,reference@6.12', '--suite', 'pte-states', '--filter', 'move'], 'compare: --filter: pte-states takes no test filter (those that do: uffd-unit-tests)');
  await expectUsageError(['run', '--suite', 'uffd-unit-tests', '--filter', ''], 'run: --filter: an empty filter (it would choose every test)');
});
