import { describe, expect, test } from 'vitest';
import type { ResultStatus } from '../harness/ksft.ts';
import type { RunReport } from '../harness/runner.ts';
import { compareJson, compareMatrix, compareText } from './compare.ts';

function report(target: string, results: readonly (readonly [string, ResultStatus])[]): RunReport {
  return {
    target: { name: target, arch: 'arm64', layout: null, kernel: '7.2' },
    suites: [
      {
        name: 's',
        source: 'tools/testing/selftests/mm/s.c',
        plan: results.length,
        exit: { status: 'pass', code: 0, reason: null },
        results: results.map(([name, status], i) => ({ n: i + 1, name, status, reason: null, ms: 0 })),
      },
    ],
    interrupted: null,
  };
}

describe('the compare matrix', () => {
  // pagemap_ioctl.c prints "sanity_tests_sd output buffer can be 0" twice: each is a result of its own
  test('a name printed twice is two rows, each compared with its own counterpart', () => {
    const a = report('a', [['x', 'pass'], ['twice', 'pass'], ['twice', 'pass']]);
    const b = report('b', [['x', 'pass'], ['twice', 'pass'], ['twice', 'fail']]);
    const m = compareMatrix([a, b]);
    expect(m.disagreements).toBe(1);
    expect(m.rows.map((r) => [r.name, r.occurrence, r.agree])).toEqual([
      ['twice', 1, false],
      ['(exit)', 0, true],
      ['x', 0, true],
      ['twice', 0, true],
    ]);
    expect(compareText(m)).toContain('pass    fail    ! s: twice (2)\n');
    expect(JSON.parse(compareJson(m)).rows[0]).toEqual({ suite: 's', name: 'twice', occurrence: 1, agree: false, status: { a: 'pass', b: 'fail' } });
  });

  test('a second occurrence one target never printed is absent there', () => {
    const m = compareMatrix([report('a', [['twice', 'pass'], ['twice', 'pass']]), report('b', [['twice', 'pass']])]);
    expect(m.rows.filter((r) => !r.agree).map((r) => [r.name, r.occurrence, r.cells])).toEqual([['twice', 1, ['pass', 'absent']]]);
  });

  // pagemap_ioctl.c's transact_test prints how many pages raced: 0 on the model, 0 to 4 on a kernel
  test('results whose names differ only in numbers are one row', () => {
    const a = report('a', [['count 192', 'pass'], ['count 0', 'pass'], ['Extra pages 0 (0.0%)', 'pass']]);
    const b = report('b', [['count 192', 'pass'], ['count 0', 'pass'], ['Extra pages 3 (0.1%)', 'pass']]);
    const m = compareMatrix([a, b]);
    expect(m.disagreements).toBe(0);
    expect(m.rows.map((r) => [r.name, r.occurrence])).toEqual([
      ['(exit)', 0],
      ['count 192', 0],
      ['count 0', 1],
      ['Extra pages 0 (0.0%)', 0],
    ]);
  });
});
