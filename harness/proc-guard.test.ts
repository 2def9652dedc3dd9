// The runner's guard around a suite's Proc: once cancelled, every call
// fails, on the proc and on the threads it created alike; calls on either
// take the same turns of the event loop.

import { describe, expect, test } from 'vitest';
import { Errno } from '../uapi/linux.ts';
import { SuiteCancelled, guardProc } from './proc-guard.ts';
import type { Thread } from './target.ts';
import { fakeProc } from './testing/fake-target.ts';

const thread = (): Thread => ({
  tid: 2,
  atomicAdd: async () => ({ ok: true, data: new Uint8Array(0) }),
  minflt: async () => 7n,
  madvise: async () => 0,
});

describe('the guard', () => {
  test("a thread's calls go through it: served while the suite runs, SuiteCancelled once it is cut short", async () => {
    const { proc, cancel } = guardProc(fakeProc({ threadCreate: async () => thread() }));
    const th = await proc.threadCreate();
    if (th instanceof Errno) throw new Error(String(th));
    expect(await th.minflt()).toBe(7n);
    cancel();
    await expect(th.minflt()).rejects.toThrow(SuiteCancelled);
    await expect(th.atomicAdd([0n], 1)).rejects.toThrow(SuiteCancelled);
    await expect(proc.munmap(0n, 4096n)).rejects.toThrow(SuiteCancelled);
  });

  test("a forked child's calls, and its threads', go through it too", async () => {
    const { proc, cancel } = guardProc(fakeProc({ fork: async () => fakeProc({ threadCreate: async () => thread() }) }));
    const child = await proc.fork();
    if (child instanceof Errno) throw new Error(String(child));
    const th = await child.threadCreate();
    if (th instanceof Errno) throw new Error(String(th));
    expect(await child.munmap(0n, 4096n)).toBe(0);
    cancel();
    await expect(child.munmap(0n, 4096n)).rejects.toThrow(SuiteCancelled);
    await expect(th.minflt()).rejects.toThrow(SuiteCancelled);
  });

  test('a failed threadCreate is its Errno, unwrapped', async () => {
    const { proc } = guardProc(fakeProc({ threadCreate: async () => new Errno('EAGAIN', 'pthread_create') }));
    expect(await proc.threadCreate()).toEqual(new Errno('EAGAIN', 'pthread_create'));
  });

  test("a model's thread, whose calls answer at once, still lets the event loop turn", async () => {
    const { proc } = guardProc(fakeProc({ threadCreate: async () => thread() }));
    const th = await proc.threadCreate();
    if (th instanceof Errno) throw new Error(String(th));
    let turned = false;
    setImmediate(() => (turned = true));
    for (let i = 0; i < 200 && !turned; i++) await th.minflt();
    expect(turned).toBe(true);
  });
});
