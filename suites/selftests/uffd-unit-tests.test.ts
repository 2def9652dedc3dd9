// The port's KTAP on the model against the C program's on the kernel the
// model stands for (harness/fixtures/c-uffd-unit-tests-7.2-sid-arm64.txt:
// the 7.2 program, built from linux-source-7.2 and run in the sid arm64
// guest by harness/qemu/c-selftest.ts), line for line; its static result
// names against what the C printed there and on this machine's x86_64 6.18
// (c-uffd-unit-tests-7.2-host.txt, run as root); and -f as the C takes it.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { Ksft } from '../../harness/ksft.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { uffdUnitTests, uffdUnitTestsSuite } from './uffd-unit-tests.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../harness/fixtures/c-uffd-unit-tests-${name}.txt`, import.meta.url), 'utf8');

/** the names of the results a KTAP text holds, "# SKIP " dropped as ksft records them */
const resultNames = (ktap: string): string[] => [...ktap.matchAll(/^(?:not )?ok \d+ (?:# SKIP )?(.*)$/gm)].map((m) => m[1]!);

/**
 * Where the model still parts from the kernel, each line as the kernel
 * prints it and as the model does: a line here that the model starts to
 * print as the kernel does fails the test, so the entry goes.
 */
const MODEL_GAPS: readonly (readonly [string, string])[] = [
  // MADV_COLLAPSE of shmem is not modelled (EINVAL): the C skips its own test when it fails
  ['ok 41 minor-collapse on shmem', 'ok 41 # SKIP minor-collapse on shmem (MADV_COLLAPSE failed)'],
  ['# 10 skipped test(s) detected. Consider enabling relevant config options to improve coverage.', '# 11 skipped test(s) detected. Consider enabling relevant config options to improve coverage.'],
  ['# Totals: pass:57 fail:0 xfail:0 xpass:0 skip:10 error:0', '# Totals: pass:56 fail:0 xfail:0 xpass:0 skip:11 error:0'],
];

async function runOnModel(suite = uffdUnitTests): Promise<{ code: number; out: string }> {
  const target = await referenceTarget('');
  const { arch } = await target.info();
  const proc = await target.spawn();
  let out = '';
  const ksft = new Ksft((s) => (out += s));
  const code = await ksft.runMain(() => suite.run({ proc, ksft, pagesize: 4096n, arch }));
  return { code, out };
}

test.each(['7.2-sid-arm64', '7.2-host'])('the listed result names are what the C printed on %s', (kernel) => {
  expect(uffdUnitTests.tests).toEqual(resultNames(fixture(kernel)));
});

test('reference prints what the C program printed on 7.2-sid-arm64', async () => {
  const { code, out } = await runOnModel();
  expect(code).toBe(0);
  let expected = fixture('7.2-sid-arm64');
  for (const [kernel, model] of MODEL_GAPS) {
    expect(expected.split('\n')).toContain(kernel);
    expected = expected.replace(`${kernel}\n`, `${model}\n`);
  }
  expect(out.split('\n')).toEqual(expected.split('\n'));
}, 600_000);

test('-f runs the tests whose name holds the filter, without the UFFDIO_API ones, under a plan of their own', async () => {
  const { code, out } = await runOnModel(uffdUnitTestsSuite('ioctls'));
  expect(code).toBe(0);
  expect(out.slice(out.indexOf('TAP version 13'))).toBe(
    [
      'TAP version 13',
      '1..5',
      'ok 1 register-ioctls on anon',
      'ok 2 register-ioctls on shmem',
      'ok 3 register-ioctls on shmem-private',
      'ok 4 register-ioctls on hugetlb',
      'ok 5 register-ioctls on hugetlb-private',
      '# Totals: pass:5 fail:0 xfail:0 xpass:0 skip:0 error:0',
      '',
    ].join('\n'),
  );
  expect(uffdUnitTestsSuite('ioctls').tests).toEqual(resultNames(out));
}, 120_000);
