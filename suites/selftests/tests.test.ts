// Each suite's static `tests` list (what `mmconform list` shows) is what a
// complete run of the port prints, in order: run on the fake target, where
// every call succeeds, each port reaches every result it has. A port whose
// results depend on what its scans find (pagemap_ioctl loops until it has
// read back every page it wrote) runs on the reference model instead.

import { expect, test } from 'vitest';
import { Ksft } from '../../harness/ksft.ts';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { fakeProc } from '../../harness/testing/fake-target.ts';
import type { Proc } from '../../harness/target.ts';
import { SUITES } from '../index.ts';

const ON_THE_MODEL = new Set(['pagemap_ioctl']);
// uffd-unit-tests.test.ts holds the list to what the C printed, and a whole run on the model to the C's KTAP
const OWN_TEST = new Set(['uffd-unit-tests']);

test.each(SUITES.filter((s) => !OWN_TEST.has(s.name)).map((s) => [s.name, s] as const))('%s: the listed result names are the ones a run prints', async (_, suite) => {
  const proc: Proc = ON_THE_MODEL.has(suite.name) ? await (await referenceTarget('')).spawn() : fakeProc();
  const ksft = new Ksft(() => {});
  await ksft.runMain(() => suite.run({ proc, ksft, pagesize: 4096n }));
  expect(ksft.results.map((r) => r.name)).toEqual(suite.tests);
  expect(ksft.plan).toBe(suite.tests.length);
}, 120_000);
