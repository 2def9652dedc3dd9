// scanLoop(): the C's loop of PAGEMAP_SCANs from each walk_end, its ioctls
// answered from Proc.pagemapScanUntil where a target has it, one by one as
// the loop asks, and through pagemapScan where it has not.

import { expect, test } from 'vitest';
import type { Ret } from '../uapi/linux.ts';
import { scanLoop } from './scan-loop.ts';
import type { PmScanArg, PmScanResult } from './target.ts';
import { fakeProc } from './testing/fake-target.ts';

const PAGE = 4096n;
const arg = (start: bigint): PmScanArg => ({
  start,
  end: 100n * PAGE,
  flags: 0,
  maxPages: 0n,
  categoryInverted: 0,
  categoryMask: 0,
  categoryAnyofMask: 8,
  returnMask: 8,
  vecLen: 1,
});
/** one region of a page at `at`, the walk ending after it */
const scanOf = (at: bigint): PmScanResult => ({ ret: 1, walkEnd: at + PAGE, regions: [{ start: at, end: at + PAGE, categories: 8 }] });

/** The C's loop: ioctls from walk_end until `pages` pages are found. */
async function cLoop(pagemapScan: (a: PmScanArg) => Promise<Ret<PmScanResult>>, pages: bigint): Promise<bigint[]> {
  const starts: bigint[] = [];
  let [found, walkEnd] = [0n, 0n];
  while (found < pages) {
    starts.push(walkEnd);
    const r = (await pagemapScan(arg(walkEnd))) as PmScanResult;
    walkEnd = r.walkEnd;
    found += BigInt(r.ret);
  }
  return starts;
}

test('made where the target makes them: the loop asks for each in turn, and again from where a short batch ended', async () => {
  const untilCalls: [bigint, bigint][] = [];
  const proc = fakeProc({
    pagemapScan: async () => {
      throw new Error('not one by one');
    },
    // two ioctls a request at most: a target may stop sooner than the loop
    pagemapScanUntil: async (a, pages) => {
      untilCalls.push([a.start, pages]);
      return [scanOf(a.start), ...(pages > 1n ? [scanOf(a.start + PAGE)] : [])];
    },
  });
  const loop = scanLoop(proc, 5n, PAGE);
  expect(await cLoop((a) => loop.proc.pagemapScan(a), 5n)).toEqual([0n, 1n, 2n, 3n, 4n].map((p) => p * PAGE));
  loop.end();
  expect(untilCalls).toEqual([
    [0n, 5n],
    [2n * PAGE, 3n],
    [4n * PAGE, 1n],
  ]);
});

test('a loop that asks for another ioctl than the one made, or ends with some unasked for, is an error', async () => {
  const proc = fakeProc({ pagemapScanUntil: async (a) => [scanOf(a.start), scanOf(a.start + PAGE)] });
  const loop = scanLoop(proc, 2n, PAGE);
  await loop.proc.pagemapScan(arg(0n));
  await expect(loop.proc.pagemapScan(arg(7n * PAGE))).rejects.toThrow('asked for an ioctl other than the one made for it');
  const early = scanLoop(proc, 2n, PAGE);
  await early.proc.pagemapScan(arg(0n));
  expect(() => early.end()).toThrow('1 ioctl(s) made for it that it did not ask for');
});

test('where the target has no pagemapScanUntil, one pagemapScan each', async () => {
  const starts: bigint[] = [];
  const proc = fakeProc({ pagemapScan: async (a) => (starts.push(a.start), scanOf(a.start)) });
  const loop = scanLoop(proc, 3n, PAGE);
  await cLoop((a) => loop.proc.pagemapScan(a), 3n);
  loop.end();
  expect(starts).toEqual([0n, PAGE, 2n * PAGE]);
});
