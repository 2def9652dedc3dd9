import { describe, expect, test } from 'vitest';
import { expectUsageError, mmconform } from '../testing/cli.ts';

describe('mmconform compare', () => {
  test.each([
    ['one target', ['compare', '--targets', 'reference'], 'compare: --targets needs two or more targets'],
    ['no targets', ['compare'], 'compare: --targets needs two or more targets'],
    ['an unknown target', ['compare', '--targets', 'reference,bogus'], 'compare: --target bogus: unknown target "bogus"'],
    ['an unknown suite', ['compare', '--targets', 'reference,reference:rfc', '--suite', 'x'], 'compare: unknown suite "x"'],
    ['a bad format', ['compare', '--targets', 'reference,reference:rfc', '--format', 'xml'], 'compare: --format must be text|json|html'],
    [
      'descriptors of two architectures',
      ['compare', '--targets', 'reference,linux-host', '--descriptors'],
      'compare: --descriptors compares entries of one architecture; reference is arm64, linux-host is x86_64',
    ],
  ])('%s: exit 2, one line', async (_, argv, message) => {
    await expectUsageError(argv, message);
  });

  test('agreeing targets: exit 0, every row agrees', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc+thp=always', '--suite', 'madv_populate');
    expect(code).toBe(0);
    expect(stdout).toMatch(/all 22 rows agree\n$/);
  });

  test('6.12 against 7.2 on rfc: the merge results disagree, and come first', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc@6.12', '--suite', 'soft-dirty', '--format', 'json');
    expect(code).toBe(1);
    const m = JSON.parse(stdout) as { disagreements: number; rows: { name: string; agree: boolean; status: Record<string, string> }[] };
    expect(m.disagreements).toBe(5);
    expect(m.rows.slice(0, 5).map((r) => r.name)).toEqual([
      '(exit)',
      'Test test_merge-anon soft-dirty after remap merge 1st pg',
      'Test test_merge-anon soft-dirty after remap merge 2nd pg',
      'Test test_merge-anon soft-dirty after mprotect merge 1st pg',
      'Test test_merge-anon soft-dirty after mprotect merge 2nd pg',
    ]);
    expect(m.rows[1]?.status).toEqual({ 'reference:rfc': 'pass', 'reference:rfc@6.12': 'fail' });
  });

  test('--descriptors: the matrix, then the descriptor report; a model differs from another version where the versions do', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference@6.12,reference@7.2', '--suite', 'pte-states', '--descriptors');
    expect(code).toBe(1);
    expect(stdout).toMatch(/all \d+ rows agree\ndescriptors: \d+ difference\(s\), reference@6\.12\/reference@7\.2\n/);
    // 7.2's table entries carry AF
    expect(stdout).toContain('pte-states: load: the shared zero page: step 2 load, page 0, pgd: AF (FEAT_HAFT) (bit 10) 0/1;');
  });

  test('html: a complete document with the targets as columns, text escaped', async () => {
    const { stdout } = await mmconform('compare', '--targets', 'reference,reference:rfc', '--suite', 'regressions-soft-dirty', '--format', 'html');
    expect(stdout).toMatch(/^<!doctype html>/);
    expect(stdout).toContain('<th title="arm64, layout rfc, kernel 7.2">reference:rfc</th>');
    expect(stdout).toContain('sd-hole-before: an unmapped page before an area reads as 0');
  });
  test('--calls: every call compared; one target against itself is equal call for call', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc', '--suite', 'madv_populate', '--calls');
    expect(code).toBe(0);
    expect(stdout).toMatch(/\ncalls: \d+ compared, all equal \(reference:rfc against reference:rfc\)\n$/);
  });

  test('--calls: where a suite first differs, with the test it belongs to and both outcomes', async () => {
    const { code, stdout } = await mmconform('compare', '--targets', 'reference:rfc,reference:rfc+thp=never', '--suite', 'madv_populate', '--calls');
    expect(code).toBe(1);
    expect(stdout).toMatch(/\ncalls: madv_populate: differs at call \d+ \(in "[^"]+"\), \d+ lines differ from there\n {2}\S.*\n {4}reference:rfc: .*\n {4}reference:rfc\+thp=never: .*\n/);
  });
});
