// checkLoop(): a loop's loads (and stores back) answered from Proc.checkEach
// in the loop's order, the signals an OnSignal handled among them; one by
// one where a target has no checkEach.

import { expect, test } from 'vitest';
import type { CheckResult, OnSignal } from './target.ts';
import { fakeProc } from './testing/fake-target.ts';
import { KilledBySignal, checkFill, checkLoop, fillEach, invert, type Check } from './user-memory.ts';

const addrs = [0x1000n, 0x2000n, 0x3000n, 0x4000n];
const expect5 = addrs.map(() => 5n);
const onSignal: OnSignal = { then: [[{ call: 'uffdioWriteprotect', fd: 3, start: { base: 0x1000n, stride: 0x1000n }, len: 0x1000n, mode: 0n }]] };
const bus = (addr: bigint): Check => ({ ok: false, signal: 'SIGBUS', addr });
const ev = (i: number, skip = false) => ({ i, signal: 'SIGBUS' as const, addr: addrs[i]!, skip });

/** A proc whose checkEach answers `results` in turn, noting where each call started and its OnSignal's first base. */
function scripted(...results: CheckResult[]) {
  const calls: { from: bigint; base: bigint | undefined }[] = [];
  const proc = fakeProc({
    checkEach: async (a, _e, _s, h) => {
      const first = h?.then[0];
      calls.push({ from: a[0]!, base: first && first !== 'skip' && first[0]?.call === 'uffdioWriteprotect' ? first[0].start.base : undefined });
      return results.shift()!;
    },
  });
  return { proc, calls };
}

test("each address's handled signals, then its value, in the loop's order; a skipped address has no value", async () => {
  const { proc, calls } = scripted({ done: 4, stop: null, events: [ev(1), ev(1), ev(2, true)] });
  const loop = checkLoop(proc, addrs, expect5, true, onSignal);
  const seen = [await loop.at(0), await loop.at(1), await loop.at(1), await loop.at(1), await loop.at(2), await loop.at(3)];
  expect(seen).toEqual([{ ok: true, value: 5n }, bus(0x2000n), bus(0x2000n), { ok: true, value: 5n }, bus(0x3000n), { ok: true, value: 5n }]);
  expect(calls).toEqual([{ from: 0x1000n, base: 0x1000n }]);
});

test('a call from a later address takes the OnSignal with its address 0 there; a stop at a signal is the last outcome, and the loop goes on with a new call', async () => {
  const { proc, calls } = scripted({ done: 1, stop: { signal: 'SIGBUS', addr: 0x2000n } }, { done: 3, stop: null });
  const loop = checkLoop(proc, addrs, expect5, true, onSignal);
  expect(await loop.at(0)).toEqual({ ok: true, value: 5n });
  expect(await loop.at(1)).toEqual(bus(0x2000n));
  expect(await loop.at(1)).toEqual({ ok: true, value: 5n });
  expect(calls).toEqual([
    { from: 0x1000n, base: 0x1000n },
    { from: 0x2000n, base: 0x2000n },
  ]);
});

test('after calls that did not go through whole (a handler stop), the address is asked for afresh', async () => {
  const { proc, calls } = scripted({ done: 1, stop: { handler: true }, events: [ev(1)] }, { done: 3, stop: null });
  const loop = checkLoop(proc, addrs, expect5, true, onSignal);
  expect(await loop.at(0)).toEqual({ ok: true, value: 5n });
  expect(await loop.at(1)).toEqual(bus(0x2000n));
  expect(await loop.at(1)).toEqual({ ok: true, value: 5n });
  expect(calls.map((c) => c.from)).toEqual([0x1000n, 0x2000n]);
});

test('a loop that does not do as its OnSignal says (on to the next address where the agent tried again) is an error', async () => {
  const { proc } = scripted({ done: 4, stop: null, events: [ev(1)] });
  const loop = checkLoop(proc, addrs, expect5, true, onSignal);
  await loop.at(0);
  await loop.at(1);
  await expect(loop.at(2)).rejects.toThrow(/OnSignal does not describe the loop/);
});

test('without checkEach, a load and a store back of each address the loop asks for', async () => {
  const made: string[] = [];
  const proc = fakeProc({
    read: async (a) => (made.push(`load ${a}`), { ok: true, data: new Uint8Array([a === 0x2000n ? 6 : 5, 0, 0, 0, 0, 0, 0, 0]) }),
    write: async (a) => (made.push(`store ${a}`), { ok: true, data: new Uint8Array(0) }),
  });
  const loop = checkLoop(proc, addrs, expect5, true, onSignal);
  expect([await loop.at(0), await loop.at(1)]).toEqual([
    { ok: true, value: 5n },
    { ok: true, value: 6n },
  ]);
  expect(made).toEqual(['load 4096', 'store 4096', 'load 8192']);
});

test('checkFill without the call: loads of the pages that follow each other, the first other byte by its page and offset', async () => {
  const reads: [bigint, number][] = [];
  const proc = fakeProc({
    read: async (a, n) => {
      reads.push([a, n]);
      const data = new Uint8Array(n).fill(9);
      if (a <= 0x3010n && 0x3010n < a + BigInt(n)) data[Number(0x3010n - a)] = 4;
      return { ok: true, data };
    },
  });
  // three pages in a row, then one apart
  const r = await checkFill(proc, [0x1000n, 0x2000n, 0x3000n, 0x9000n], 0x1000n, Uint8Array.of(9, 9, 9, 9));
  expect(r).toEqual({ done: 2, stop: { offset: 0x10n, value: 4 } });
  expect(reads).toEqual([[0x1000n, 0x3000]]);
  expect(await checkFill(proc, [0x1000n, 0x9000n], 0x1000n, Uint8Array.of(9, 9))).toEqual({ done: 2, stop: null });
  expect(reads.slice(1)).toEqual([
    [0x1000n, 0x1000],
    [0x9000n, 0x1000],
  ]);
});

test('fillEach without the call: a memset at each address with its byte, the first signal killing the program', async () => {
  const fills: [bigint, bigint, number][] = [];
  const proc = fakeProc({
    fill: async (a, n, b) => (fills.push([a, n, b]), a === 0x3000n ? { ok: false, signal: 'SIGSEGV', addr: a } : { ok: true, data: new Uint8Array(0) }),
  });
  await fillEach(proc, [0x1000n, 0x2000n], 0x1000n, Uint8Array.of(1, 2));
  expect(fills).toEqual([
    [0x1000n, 0x1000n, 1],
    [0x2000n, 0x1000n, 2],
  ]);
  await expect(fillEach(proc, [0x3000n], 0x1000n, Uint8Array.of(3))).rejects.toThrow(KilledBySignal);
});

test('invert without the call: the bytes loaded, then stored inverted; a signal on either kills the program', async () => {
  const writes: [bigint, number[]][] = [];
  const proc = fakeProc({
    read: async (a, n) => (a === 0x3000n ? { ok: false, signal: 'SIGSEGV', addr: a } : { ok: true, data: Uint8Array.from({ length: n }, (_, i) => i) }),
    write: async (a, d) => (writes.push([a, [...d]]), { ok: true, data: new Uint8Array(0) }),
  });
  await invert(proc, 0x1000n, 3);
  expect(writes).toEqual([[0x1000n, [0xff, 0xfe, 0xfd]]]);
  await expect(invert(proc, 0x3000n, 3)).rejects.toThrow(KilledBySignal);
});
