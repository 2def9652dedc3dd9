// Calls made together: awaited in the order they were made, whatever order
// they settle in, and through the runner's guard in that order too.

import { describe, expect, test } from 'vitest';
import { inOrder } from './in-order.ts';
import { guardProc } from './proc-guard.ts';
import { fakeProc } from './testing/fake-target.ts';

const settle = <T>(value: T, ms: number, fail = false): Promise<T> =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms));

describe('inOrder', () => {
  test('gives each result in call order', async () => {
    await expect(inOrder(settle('a', 20), settle(1, 1), Promise.resolve(true))).resolves.toEqual(['a', 1, true]);
  });

  test('throws the earlier call failure even when a later one failed first', async () => {
    await expect(inOrder(settle('clear_refs', 20, true), settle('load', 1, true))).rejects.toThrow('clear_refs');
  });

  test('a later call failure after an earlier one is nobody\'s to see', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(inOrder(settle('first', 1, true), settle('second', 5, true))).rejects.toThrow('first');
      await settle(null, 20);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});

describe('the runner guard', () => {
  test('calls made while it yields to the event loop still reach the target in order', async () => {
    const reached: number[] = [];
    const proc = fakeProc({ munmap: async (addr) => (reached.push(Number(addr)), 0) });
    const { proc: guarded } = guardProc(proc);
    // 300 calls made together span several of the guard's turns of the event loop
    await inOrder(...Array.from({ length: 300 }, (_, i) => guarded.munmap(BigInt(i), 4096n)));
    expect(reached).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
