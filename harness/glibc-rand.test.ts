import { expect, test } from 'vitest';
import { GlibcRand } from './glibc-rand.ts';

test("rand() draws glibc's numbers for an unseeded program", () => {
  const g = new GlibcRand();
  // printed by a C program calling rand() five times, then summing rand() % 2 a million times (glibc 2.36)
  expect([1, 2, 3, 4, 5].map(() => g.rand())).toEqual([1804289383, 846930886, 1681692777, 1714636915, 1957747793]);
  let odd = 0;
  for (let i = 0; i < 1_000_000; i++) odd += g.rand() % 2;
  expect(odd).toBe(499845);
});
