// PAGEMAP_SCAN where the walk's order shows: the bounce buffer refilled
// mid-walk, max_pages, and hugetlb entries. Each expectation was measured
// on the host (6.18 x86_64) and on 6.12 and 7.2 arm64 under QEMU, with the
// same calls through the agent.
import { describe, expect, test } from 'vitest';
import { builtinLayout } from '../arm64/layout.ts';
import { kernelByName } from '../kernel.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { doMadvise } from '../mm/madvise.ts';
import { doMmap } from '../mm/mmap.ts';
import { System } from '../mm/system.ts';
import { Task } from '../mm/task.ts';
import { writeUser } from '../mm/user-access.ts';
import { pagemapScan, type ScanArg } from './pagemap-scan.ts';

const PAGE = 4096n;
const HPAGE = 2n << 20n;

function task(hugetlbPages = 0): Task {
  const sys = new System({
    layout: builtinLayout('v6.10'),
    kernel: kernelByName('7.2'),
    hw: { hwAF: true, hwDBM: true },
    epan: true,
    thp: { enabled: 'always', useZeroPage: true },
    showPfn: true,
    swapBytes: 0n,
    hugetlbPages,
  });
  return new Task(sys);
}

function map(t: Task, len: bigint, extra = 0): bigint {
  const a = doMmap(t.mm, 0n, len, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS | extra, null, 0n);
  if (isErr(a)) throw new Error(String(a));
  return a;
}

const scan = (t: Task, arg: Partial<ScanArg> & Pick<ScanArg, 'start' | 'end'>) => {
  const all = { flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0, returnMask: 0, vecLen: 16, badVec: false };
  const r = pagemapScan(t.mm, { ...all, ...arg });
  if (isErr(r)) throw new Error(String(r));
  return r;
};

describe('PAGEMAP_SCAN', () => {
  // 1024 present pages, every other one: as many regions, more than the 512 the bounce buffer holds
  const N = 2048n;
  const everyOther = () => {
    const t = task();
    const a = map(t, N * PAGE);
    expect(doMadvise(t.mm, a, N * PAGE, U.MADV_NOHUGEPAGE)).toBe(0);
    for (let i = 0n; i < N; i += 2n) expect(writeUser(t.mm, a + i * PAGE, new Uint8Array([1]))).toBeNull();
    const present = (vecLen: number, maxPages = 0n) =>
      scan(t, { start: a, end: a + N * PAGE, categoryMask: U.PAGE_IS_PRESENT, returnMask: U.PAGE_IS_PRESENT, vecLen, maxPages });
    const page = (addr: bigint) => (addr - a) / PAGE;
    return { present, page };
  };

  test('a buffer refilled mid-walk: every region, and walk_end left where the refill began (not the end)', () => {
    const { present, page } = everyOther();
    const r = present(2000);
    expect([r.ret, page(r.regions.at(-1)!.start), page(r.walkEnd)]).toEqual([1024, 2046n, 1024n]);
    const r513 = present(513);
    expect([r513.ret, page(r513.regions.at(-1)!.start), page(r513.walkEnd)]).toEqual([513, 1024n, 1026n]);
  });

  test('vec_len and max_pages cut the walk at the next page it would report', () => {
    const { present, page } = everyOther();
    const r = present(600);
    expect([r.ret, page(r.regions.at(-1)!.start), page(r.walkEnd)]).toEqual([600, 1198n, 1200n]);
    const m = present(1024, 700n);
    expect([m.ret, page(m.regions.at(-1)!.start), page(m.walkEnd)]).toEqual([700, 1398n, 1400n]);
  });

  test('an untouched hugetlb page is a huge entry (huge_pte_offset() finds the pmd table), a written private one present and written (an anonymous page, not a file one)', () => {
    const t = task(2);
    const a = map(t, 2n * HPAGE, U.MAP_HUGETLB);
    const all = U.PAGE_IS_HUGE | U.PAGE_IS_PRESENT | U.PAGE_IS_WRITTEN | U.PAGE_IS_FILE | U.PAGE_IS_SWAPPED | U.PAGE_IS_PFNZERO;
    const regions = () => scan(t, { start: a, end: a + 2n * HPAGE, categoryAnyofMask: all, returnMask: all }).regions.map((r) => [(r.start - a) / PAGE, (r.end - a) / PAGE, r.categories]);
    expect(regions()).toEqual([[0n, 1024n, U.PAGE_IS_HUGE]]);
    expect(writeUser(t.mm, a, new Uint8Array([1]))).toBeNull();
    expect(regions()).toEqual([
      [0n, 512n, U.PAGE_IS_HUGE | U.PAGE_IS_PRESENT | U.PAGE_IS_WRITTEN],
      [512n, 1024n, U.PAGE_IS_HUGE],
    ]);
  });
});

// PM_SCAN_CATEGORIES: 6.12's ends at PAGE_IS_SOFT_DIRTY (its source; and its x86_64 kernel answers the
// soft-dirty selftest's scans, which ask for it, call for call as the model does); PAGE_IS_GUARD is newer.
test.each([
  ['', 'a category too', 1],
  ['@6.12', 'EINVAL', 'EINVAL'],
])('reference%s: PAGE_IS_SOFT_DIRTY is a category, PAGE_IS_GUARD %s', async (spec, _, guard) => {
  const { referenceTarget } = await import('../../harness/targets/reference.ts');
  const p = await (await referenceTarget(spec)).spawn();
  const a = await p.mmap(0n, PAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
  if (isErr(a)) throw new Error(String(a));
  const scan = (anyof: number) =>
    p.pagemapScan({ start: a, end: a + PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: anyof, returnMask: anyof, vecLen: 1 });
  const ret = (r: Awaited<ReturnType<typeof scan>>) => (isErr(r) ? r.name : r.ret);
  expect(ret(await scan(U.PAGE_IS_WRITTEN | U.PAGE_IS_SOFT_DIRTY))).toBe(1);
  expect(ret(await scan(U.PAGE_IS_WRITTEN | U.PAGE_IS_GUARD))).toBe(guard);
});
