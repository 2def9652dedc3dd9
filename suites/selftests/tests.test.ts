// Each suite's static `tests` list (what `mmconform list` shows) is what a
// complete run of the port prints, in order: run on the fake target, where
// every call succeeds, each port reaches every result it has.

import { expect, test } from 'vitest';
import { Ksft } from '../../harness/ksft.ts';
import { fakeProc } from '../../harness/testing/fake-target.ts';
import { SUITES } from '../index.ts';

test.each(SUITES.map((s) => [s.name, s] as const))('%s: the listed result names are the ones a run prints', async (_, suite) => {
  const ksft = new Ksft(() => {});
  await ksft.runMain(() => suite.run({ proc: fakeProc(), ksft, pagesize: 4096n }));
  expect(ksft.results.map((r) => r.name)).toEqual(suite.tests);
  expect(ksft.plan).toBe(suite.tests.length);
});
