// repeat() where the target runs no loops itself: round by round, as the C's
// for loop with a break; through the runner's guard, a target's own
// Proc.repeat (rounds.test.ts tries the agent's).

import { expect, test } from 'vitest';
import { guardProc } from './proc-guard.ts';
import { repeat } from './repeat.ts';
import { fakeProc } from './testing/fake-target.ts';

test('without Proc.repeat: every round runs, up to the one that breaks; i is where the loop ended', async () => {
  const proc = fakeProc();
  const rounds: number[] = [];
  expect(await repeat(proc, 10, async (i) => (rounds.push(i), i < 6))).toBe(6);
  expect(rounds).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(await repeat(proc, 3, async () => true)).toBe(3);
  expect(await repeat(proc, 0, async () => false)).toBe(0);
});

test("through the runner's guard, a target's own Proc.repeat runs the loop", async () => {
  const own = fakeProc({ repeat: async (times) => times - 1 });
  expect(await repeat(guardProc(own).proc, 5, async () => true)).toBe(4);
});
