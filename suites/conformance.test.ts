// What the reference model gives for every suite, result by result, in each
// layout and kernel version: the expectations a real kernel with the same
// features is later held to.
import { describe, expect, test } from 'vitest';
import { PTE_DBM } from '../model/arm64/hwdef.ts';
import type { Pgtable } from '../model/arm64/pgtable.ts';
import { runSuites } from '../harness/runner.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { referenceTarget } from '../harness/targets/reference.ts';
import { SUITES } from './index.ts';

async function statuses(targetName: string, mutate?: (pg: Pgtable) => Pgtable): Promise<Record<string, string[]>> {
  const target = mutate ? await referenceTarget(targetName.replace(/^reference/, ''), { mutate }) : await resolveTarget(targetName);
  const report = await runSuites(target, targetName, SUITES, { stdout: () => {}, stderr: () => {} });
  return Object.fromEntries(report.suites.map((s) => [s.name, [s.exit.status, ...s.results.map((r) => `${r.status}: ${r.name}`)]]));
}

const allPass = (name: string) => ['pass', ...SUITES.find((s) => s.name === name)!.tests.map((t) => `pass: ${t}`)];

/** uffd-unit-tests where uffd-wp is: all pass but what the kernels skip too (no gup_test) */
const uffdUnitTests = () => allPass('uffd-unit-tests').map((r) => (r.endsWith('(Possibly CONFIG_GUP_TEST missing or unprivileged)') ? r.replace(/^pass/, 'skip') : r));

describe('reference targets', { timeout: 120_000 }, () => {
  test('rfc (soft-dirty in bit 63): everything passes', async () => {
    const got = await statuses('reference:rfc');
    for (const s of SUITES) expect(got[s.name], s.name).toEqual(s.name === 'uffd-unit-tests' ? uffdUnitTests() : allPass(s.name));
  });

  /** v6.10, the default: every suite, result by result */
  const V6_10 = (): Record<string, string[]> => ({
    'soft-dirty': ['skip'],
    madv_populate: allPass('madv_populate').slice(0, 17),
    pagemap_ioctl: allPass('pagemap_ioctl'),
    'regressions-soft-dirty': ['pass', ...SUITES.find((s) => s.name === 'regressions-soft-dirty')!.tests.map((t, i) => `${i === 4 ? 'pass' : 'skip'}: ${t}`)],
    'regressions-uffd-wp': allPass('regressions-uffd-wp'),
    'pte-states': allPass('pte-states'),
    'uffd-unit-tests': uffdUnitTests(),
  });

  test('v6.10 (no soft-dirty): every suite pinned: soft-dirty skips as a whole, madv_populate runs its 16, the soft-dirty regressions skip but sd-hole-before, the rest pass', async () => {
    const got = await statuses('reference');
    expect(Object.keys(got)).toEqual(SUITES.map((s) => s.name));
    for (const [name, want] of Object.entries(V6_10())) expect(got[name], name).toEqual(want);
  });

  test('... so a wrong helper on the default layout shows: pte_modify() that keeps DBM fails pte-states', async () => {
    const keepsDbm = (pg: Pgtable): Pgtable => ({ ...pg, pteModify: (p, prot) => pg.pteModify(p, prot) | (p & PTE_DBM) });
    const got = await statuses('reference', keepsDbm);
    const want = V6_10();
    const differing = Object.keys(want).filter((name) => JSON.stringify(got[name]) !== JSON.stringify(want[name]));
    expect(differing).toEqual(['pte-states']);
  });

  test('v6.9 (no uffd-wp bit): every suite pinned: what needs uffd-wp skips, as on a kernel without asynchronous uffd-wp', async () => {
    const got = await statuses('reference:v6.9');
    expect(got['soft-dirty']).toEqual(['skip']);
    expect(got['madv_populate']).toEqual(allPass('madv_populate').slice(0, 17));
    // init_uffd() finds no UFFD_FEATURE_WP_ASYNC: "1..0 # SKIP Failed to initialize userfaultfd"
    expect(got['pagemap_ioctl']).toEqual(['skip']);
    expect(got['regressions-soft-dirty']).toEqual(V6_10()['regressions-soft-dirty']);
    expect(got['regressions-uffd-wp']).toEqual(['pass', ...allPass('regressions-uffd-wp').slice(1).map((r) => r.replace(/^pass/, 'skip'))]);
    // its 18 steps without uffd-wp pass; the 32 with it (async uffd-wp, PAGEMAP_SCAN's write protection, swapoff's) skip
    const steps = got['pte-states']!;
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    expect(steps[0]).toBe('pass');
    expect(steps.slice(1).flatMap((r, i) => (r.startsWith('skip: ') ? [i + 1] : []))).toEqual([...range(10, 17), 22, 23, ...range(26, 43), 46, ...range(48, 50)]);
    expect(steps.filter((r) => r.startsWith('pass: '))).toHaveLength(18);
  });

  test('rfc on 6.12: VM_SOFTDIRTY is not sticky across merges yet, so test_merge and sd-vma-merge fail, as that kernel does', async () => {
    const got = await statuses('reference:rfc@6.12');
    const failing = Object.values(got).flat().filter((r) => r.startsWith('fail: '));
    expect(failing).toEqual([
      'fail: Test test_merge-anon soft-dirty after remap merge 1st pg',
      'fail: Test test_merge-anon soft-dirty after remap merge 2nd pg',
      'fail: Test test_merge-anon soft-dirty after mprotect merge 1st pg',
      'fail: Test test_merge-anon soft-dirty after mprotect merge 2nd pg',
      'fail: sd-vma-merge: a clean area merged with a new soft-dirty one is soft-dirty',
    ]);
  });

  test('rfc without THP: the hugepage tests skip, and the huge zero page test fails, as on a kernel with THP off', async () => {
    const got = await statuses('reference:rfc+thp=never');
    expect(got['soft-dirty']?.filter((r) => r.startsWith('skip'))).toEqual([
      'skip: Test test_hugepage huge page allocation',
      'skip: Test test_hugepage huge page dirty bit',
    ]);
    // the C checks use_zero_page, not THP: MADV_HUGEPAGE succeeds, the read maps a 4 KiB zero page
    // (measured on sid-arm64 booted with thp=never: only result 117 fails)
    expect(got['pagemap_ioctl']?.filter((r) => !r.startsWith('pass'))).toEqual(['fail', 'fail: zeropfn_tests all huge pages must have PFNZERO set']);
  });
});
