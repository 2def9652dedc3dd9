// What the reference model gives for every suite, result by result, in each
// layout and kernel version: the expectations a real kernel with the same
// features is later held to.
import { describe, expect, test } from 'vitest';
import { runSuites } from '../harness/runner.ts';
import { resolveTarget } from '../harness/targets/index.ts';
import { SUITES } from './index.ts';

async function statuses(targetName: string): Promise<Record<string, string[]>> {
  const target = await resolveTarget(targetName);
  const report = await runSuites(target, targetName, SUITES, { stdout: () => {}, stderr: () => {} });
  return Object.fromEntries(report.suites.map((s) => [s.name, [s.exit.status, ...s.results.map((r) => `${r.status}: ${r.name}`)]]));
}

const allPass = (name: string) => ['pass', ...SUITES.find((s) => s.name === name)!.tests.map((t) => `pass: ${t}`)];

describe('reference targets', { timeout: 120_000 }, () => {
  test('rfc (soft-dirty in bit 63): everything passes', async () => {
    const got = await statuses('reference:rfc');
    for (const s of SUITES) expect(got[s.name], s.name).toEqual(allPass(s.name));
  });

  test('v6.10 (no soft-dirty): soft-dirty skips as a whole, madv_populate runs its 16, the soft-dirty regressions skip but one', async () => {
    const got = await statuses('reference');
    expect(got['soft-dirty']).toEqual(['skip']);
    expect(got['madv_populate']).toEqual(allPass('madv_populate').slice(0, 17));
    expect(got['regressions-soft-dirty']?.map((r) => r.split(':')[0])).toEqual(['pass', 'skip', 'skip', 'skip', 'skip', 'pass', 'skip']);
    expect(got['regressions-uffd-wp']).toEqual(allPass('regressions-uffd-wp'));
    expect(got['pagemap_ioctl']).toEqual(allPass('pagemap_ioctl'));
  });

  test('v6.9 (no uffd-wp bit): the uffd-wp regressions skip, as on a kernel without asynchronous uffd-wp', async () => {
    const got = await statuses('reference:v6.9');
    expect(got['regressions-uffd-wp']).toEqual(['pass', ...allPass('regressions-uffd-wp').slice(1).map((r) => r.replace(/^pass/, 'skip'))]);
    // init_uffd() finds no UFFD_FEATURE_WP_ASYNC: "1..0 # SKIP Failed to initialize userfaultfd"
    expect(got['pagemap_ioctl']).toEqual(['skip']);
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
