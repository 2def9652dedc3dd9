// The port's KTAP on the model against the C program's on the kernel the
// model stands for (harness/fixtures/c-uffd-unit-tests-7.2-sid-arm64.txt:
// the 7.2 program, built from linux-source-7.2 and run in the sid arm64
// guest by harness/qemu/c-selftest.ts), line for line; its static result
// names against what the C printed there and on this machine's x86_64 6.18
// (c-uffd-unit-tests-7.2-host.txt, run as root); and -f as the C takes it.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { Errno, isErr } from '../../uapi/linux.ts';
import { Ksft } from '../../harness/ksft.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { uffdUnitTests, uffdUnitTestsSuite } from './uffd-unit-tests.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../harness/fixtures/c-uffd-unit-tests-${name}.txt`, import.meta.url), 'utf8');

/** the names of the results a KTAP text holds, "# SKIP " dropped as ksft records them */
const resultNames = (ktap: string): string[] => [...ktap.matchAll(/^(?:not )?ok \d+ (?:# SKIP )?(.*)$/gm)].map((m) => m[1]!);

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
  expect(out.split('\n')).toEqual(fixture('7.2-sid-arm64').split('\n'));
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

test("err() in a fork()'s child ends the child with KSFT_FAIL, not the program: the parent reports the test failed and goes on", async () => {
  const target = await referenceTarget('');
  const { arch } = await target.info();
  const real = await target.spawn();
  // every child reads a pagemap entry without PM_UFFD_WP: pagemap_check_wp() fails in the child
  const proc = new Proxy(real, {
    get(t, key) {
      if (key !== 'fork') return Reflect.get(t, key);
      return async () => {
        const child = await t.fork();
        if (isErr(child)) return child;
        return new Proxy(child, { get: (c, k) => (k === 'pagemap' ? async (_: bigint, n: number) => new BigUint64Array(n) : Reflect.get(c, k)) });
      };
    },
  });
  let out = '';
  const ksft = new Ksft((s) => (out += s));
  const code = await ksft.runMain(() => uffdUnitTestsSuite('wp-fork-with-event').run({ proc, ksft, pagesize: 4096n, arch }));
  expect(code).toBe(1);
  const child = [
    '# ERROR: pagemap uffd-wp bit error: 0x0 (errno=0, @uffd-unit-tests.c:298)',
    // the child's copy of the counts, as exit() in a C child prints them
    '# Planned tests != run tests (5 != N)',
    '# Totals: pass:0 fail:N xfail:0 xpass:0 skip:0 error:0',
    '# failed reason: [Detected missing uffd-wp bit in child in present pte]',
  ];
  const expected = ['TAP version 13', '1..5'];
  for (const [i, mem] of ['anon', 'shmem', 'shmem-private', 'hugetlb', 'hugetlb-private'].entries())
    expected.push(...child.map((l) => l.replaceAll('N', String(i))), `not ok ${i + 1} wp-fork-with-event on ${mem}`);
  expected.push('# Totals: pass:0 fail:5 xfail:0 xpass:0 skip:0 error:0', '');
  expect(out.slice(out.indexOf('TAP version 13')).split('\n')).toEqual(expected);
}, 120_000);

test('err() in the handler thread ends the program, the main thread waiting on a fault included', async () => {
  const target = await referenceTarget('');
  const { arch } = await target.info();
  const real = await target.spawn();
  const proc = new Proxy(real, {
    get: (t, key) => (key === 'uffdioCopy' ? async () => ({ error: new Errno('EINVAL', 'ioctl'), progress: -22n }) : Reflect.get(t, key)),
  });
  const nrHugepages = await real.readFile('/proc/sys/vm/nr_hugepages');
  let out = '';
  const ksft = new Ksft((s) => (out += s));
  const code = await ksft.runMain(() => uffdUnitTestsSuite('events').run({ proc, ksft, pagesize: 4096n, arch }));
  expect(code).toBe(1);
  // the atexit() handler put the HugeTLB pool back
  expect(await real.readFile('/proc/sys/vm/nr_hugepages')).toBe(nrHugepages);
  expect(out.slice(out.indexOf('TAP version 13')).split('\n')).toEqual([
    'TAP version 13',
    '1..10',
    '# ERROR: UFFDIO_COPY error: -22 (errno=22, @uffd-common.c:644)',
    '# Planned tests != run tests (10 != 0)',
    '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0',
    '',
  ]);
}, 120_000);
