// hugetlb_setup_default() as pagemap_ioctl.c calls it: the pool grown to what
// the test needs, and put back as it was when the program exits.

import { expect, test } from 'vitest';
import { hugetlbSetupDefault } from './hugepage-settings.ts';
import { Ksft } from './ksft.ts';
import { referenceTarget } from './targets/reference.ts';

const NR = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';

test('hugetlb_setup_default(4) grows an empty pool to 4, and exit puts it back', async () => {
  const target = await referenceTarget('+hugetlb=0');
  const proc = await target.spawn();
  let out = '';
  const ksft = new Ksft((s) => (out += s));
  let during = '';
  const code = await ksft.runMain(async () => {
    expect(await hugetlbSetupDefault({ proc, ksft, pagesize: 4096n }, 4n)).toBe(true);
    during = String(await proc.readFile(NR));
    ksft.exitPass();
  });
  expect(code).toBe(0);
  expect(during).toBe('4\n');
  expect(await proc.readFile(NR)).toBe('0\n');
  // detect_hugetlb_page_sizes(): arm64's hstates, in the order sysfs lists them on Debian's kernels
  expect(out).toBe(
    [2048, 32768, 64, 1048576].map((kb) => `# [INFO] detected hugetlb page size: ${kb} KiB\n`).join('') + '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0\n',
  );
});

test('a pool with enough free pages is left alone', async () => {
  const proc = await (await referenceTarget('+hugetlb=16')).spawn();
  const ksft = new Ksft(() => {});
  await ksft.runMain(async () => void (await hugetlbSetupDefault({ proc, ksft, pagesize: 4096n }, 4n)));
  expect(await proc.readFile(NR)).toBe('16\n');
});
