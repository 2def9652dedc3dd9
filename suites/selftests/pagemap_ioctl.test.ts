// The port's KTAP on the model against the C program's on the kernel the
// model stands for (harness/fixtures/c-pagemap_ioctl-*.txt: the 7.2 program,
// built from linux-source-7.2 and run in the guests by harness/qemu/c-selftest.ts),
// line for line. Only transact_test's count of pages its threads raced for
// may differ: a kernel's varies from run to run, the model's is 0.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { Ksft } from '../../harness/ksft.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { pagemapIoctlSuite } from './pagemap_ioctl.ts';

const raced = (ktap: string) => ktap.replace(/(transact_test Extra pages) \d+ \(\d+\.\d%\), extra thread faults \d+\./, '$1 N (N%), extra thread faults N.');

test.each([
  ['reference', '7.2-sid-arm64'],
  ['reference@6.12', '7.2-trixie-arm64'],
])('%s prints what the C program printed on %s', async (spec, kernel) => {
  const proc = await (await referenceTarget(spec.replace(/^reference/, ''))).spawn();
  let out = '';
  const ksft = new Ksft((s) => (out += s));
  expect(await ksft.runMain(() => pagemapIoctlSuite.run({ proc, ksft, pagesize: 4096n }))).toBe(0);
  expect(raced(out)).toBe(raced(readFileSync(new URL(`../../harness/fixtures/c-pagemap_ioctl-${kernel}.txt`, import.meta.url), 'utf8')));
}, 120_000);
