// Calls made together: awaited in the order they were made, whatever order
// they settle in, and through the runner's guard in that order too.

import { describe, expect, test } from 'vitest';
import { inOrder, ReadAhead } from './in-order.ts';
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

describe('ReadAhead', () => {
  const log: string[] = [];
  const read = (addr: bigint): Promise<string> => {
    log.push(`sent ${addr}`);
    return addr === 13n ? Promise.reject(new Error('unmapped')) : Promise.resolve(`read ${addr}`);
  };

  test('the first read goes alone, then a window goes out ahead of the loop, topped up at half', async () => {
    log.length = 0;
    const ahead = new ReadAhead(read, 0n, 100n, 1n, 8);
    await expect(ahead.at(0n)).resolves.toBe('read 0');
    expect(log).toEqual(['sent 0']);
    await expect(ahead.at(1n)).resolves.toBe('read 1');
    expect(log.length).toBe(9); // 1..8
    for (let a = 2n; a <= 4n; a++) await ahead.at(a);
    expect(log.length).toBe(9); // 5 unanswered of 8: more than half
    await ahead.at(5n);
    expect(log.at(-1)).toBe('sent 12');
  });

  test('reads never go past the end, and a read past where the loop stops fails for nobody', async () => {
    log.length = 0;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const ahead = new ReadAhead(read, 10n, 16n, 1n, 8);
      await ahead.at(10n);
      await ahead.at(11n); // sends 11..15, 13 fails
      await settle(null, 10);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(log).toEqual(['sent 10', 'sent 11', 'sent 12', 'sent 13', 'sent 14', 'sent 15']);
    expect(unhandled).toEqual([]);
  });

  test('readMany sends a refill of several pages at once; a single read, or none from it, goes one by one', async () => {
    log.length = 0;
    const batches: [bigint, number][] = [];
    const readMany = (addr: bigint, n: number) => (batches.push([addr, n]), addr > 20n ? null : Array.from({ length: n }, (_, i) => Promise.resolve(`many ${addr + BigInt(i)}`)));
    const ahead = new ReadAhead(read, 0n, 30n, 1n, 8, readMany);
    await expect(ahead.at(0n)).resolves.toBe('read 0');
    await expect(ahead.at(1n)).resolves.toBe('many 1');
    for (let a = 2n; a < 30n; a++) await ahead.at(a);
    // the window of 8 topped up by 4 at half; the last read, alone, is not asked for
    expect(batches).toEqual([
      [1n, 8],
      [9n, 4],
      [13n, 4],
      [17n, 4],
      [21n, 4],
      [25n, 4],
    ]);
    expect(log).toEqual(['sent 0', ...Array.from({ length: 9 }, (_, i) => `sent ${21 + i}`)]);
  });

  test('an address that is not the loop\'s next is a bug in the port', () => {
    const ahead = new ReadAhead(read, 0n, 2n, 1n);
    expect(() => ahead.at(1n)).toThrow('is not the loop\'s next address');
    void ahead.at(0n);
    void ahead.at(1n);
    expect(() => ahead.at(2n)).toThrow('is not the loop\'s next address'); // past the range
  });
});
