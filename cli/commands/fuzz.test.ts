import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from '../testing.ts';

describe('mmconform fuzz', () => {
  test.each([
    ['--min-agreement without --against', ['fuzz', '--min-agreement', '90'], 'fuzz: --min-agreement needs --against: the oracles allow no broken promise'],
    ['runs of 0', ['fuzz', '--against', 'reference', '--runs', '0'], 'fuzz: --runs takes a whole number of 1 or more, got "0"'],
    ['runs and time', ['fuzz', '--against', 'reference', '--runs', '2', '--time', '2'], 'fuzz: give --runs or --time, not both'],
    ['an unknown target', ['fuzz', '--against', 'bogus'], 'fuzz: --target bogus: unknown target "bogus"'],
    ['a bad percentage', ['fuzz', '--against', 'reference', '--min-agreement', '101'], 'fuzz: --min-agreement takes a percentage from 0 to 100, got "101"'],
    ['a missing replay file', ['fuzz', '--replay', '/nonexistent/x.json'], 'fuzz: --replay /nonexistent/x.json: ENOENT'],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('no --against: the model judged by the oracles alone, every promise kept, exit 0', async () => {
    const { code, stdout, stderr } = await mmconform('fuzz', '--target', 'reference:rfc', '--runs', '20', '--seed', '1');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^KTAP version 1\n1\.\.20\n(ok \d+ sequence \d+ \(seed \d+, \d+ calls\)\n){20}# Totals: pass:20 fail:0/);
    expect(stderr).toContain('judged by the oracles: answers, soft-dirty-write, uffd-wp-write, pagemap-scan-agree');
  });

  test('a plug-in with bug A1: the broken promise shrunk, shown with the command that runs it again, exit 1', { timeout: 60_000 }, async () => {
    const { code, stdout } = await mmconform('fuzz', '--target', 'module:cli/fixtures/sd-writenotify.ts', '--runs', '10', '--seed', '590');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^# soft-dirty-write: a page a store completed on reads soft-dirty/m);
    expect(stdout).toMatch(/^# \d+ calls \(from \d+\); again: mmconform fuzz --target module:cli\/fixtures\/sd-writenotify\.ts --seed 597 --runs 1 --max-calls 40$/m);
    expect(stdout).toMatch(/^# broken after call \d+: page 0x[0-9a-f]+: pagemap 0x[0-9a-f]+, not soft-dirty after a store$/m);
    expect(stdout).toMatch(/^not ok 8 sequence 7 \(seed 597, 28 calls\) # soft-dirty-write$/m);
  });

  test('--against: the target judged by the oracles too, catching what no call it compares shows (bug A1), exit 1', { timeout: 60_000 }, async () => {
    const { code, stdout } = await mmconform('fuzz', '--target', 'module:cli/fixtures/sd-writenotify.ts', '--against', 'reference:rfc', '--runs', '1', '--seed', '1467');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^# soft-dirty-write: a page a store completed on reads soft-dirty/m);
    expect(stdout).toMatch(/^not ok 1 sequence 0 \(seed 1467, 37 calls\) # broke soft-dirty-write$/m);
    expect(stdout).toContain('disagree 0 of 1: 100.0% without a disagreement; 1 broke a promise');
  });

  test('a replay file that is not one: exit 2, one line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-fuzz-'));
    try {
      await writeFile(join(dir, 'r.json'), '{"calls": []}');
      await expectUsageError(['fuzz', '--replay', join(dir, 'r.json')], 'not an mmconform fuzz replay file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a model against itself: KTAP, a line a sequence, every one agreeing, exit 0', async () => {
    const { code, stdout, stderr } = await mmconform('fuzz', '--target', 'reference', '--against', 'reference', '--runs', '5', '--seed', '1');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^KTAP version 1\n1\.\.5\n(ok \d sequence \d \(seed \d+, \d+ calls\)\n){5}# agree 5, named 0, noise 0, placement 0, disagree 0 of 5: 100\.0% without a disagreement; 0 broke a promise\n# Totals: pass:5 fail:0/);
    expect(stderr).toContain('fuzz: seed 1 (replay: --seed 1)');
  });

  test('disagreements: shrunk, written as a replay file and a C program, exit 1 unless --min-agreement allows', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mmconform-fuzz-'));
    try {
      // the target's spec sets THP, so it is not taken from the other side
      const argv = ['fuzz', '--target', 'reference+thp=always', '--against', 'reference+thp=never', '--runs', '20', '--seed', '10', '--out', dir];
      const strict = await mmconform(...argv);
      expect(strict.code).toBe(1);
      expect(strict.stdout).toMatch(/^not ok \d+ sequence \d+ .*# differs at line \d+$/m);
      const files = await readdir(dir);
      expect(files.some((f) => f.endsWith('.json'))).toBe(true);
      expect(files.some((f) => f.endsWith('.c'))).toBe(true);
      const replay = files.find((f) => f.endsWith('.json'))!;
      expect((await mmconform('fuzz', '--replay', join(dir, replay))).code).toBe(1);
      expect((await mmconform(...argv, '--min-agreement', '0')).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  test('SIGINT: the campaign stops after the sequence at hand, prints its totals, exits 130', async () => {
    const cli = new URL('../../bin/mmconform.js', import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, 'fuzz', '--against', 'reference', '--runs', '100000', '--seed', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && /^ok 3 /m.test(stdout)) sent = child.kill('SIGINT');
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    const [code] = await exited;
    clearTimeout(timer);
    expect(code).toBe(130);
    expect(stdout).toMatch(/^1\.\.100000\n/m);
    expect(stdout).toMatch(/\n# agree \d+, named 0, noise 0, placement 0, disagree 0 of \d+: 100\.0% without a disagreement; 0 broke a promise\n# Totals: pass:\d+ fail:0/);
  }, 60_000);
});
