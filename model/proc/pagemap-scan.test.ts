// PAGEMAP_SCAN where the walk's order shows: the bounce buffer refilled
// mid-walk, max_pages, and hugetlb entries. Each expectation was measured
// on the host (6.18 x86_64) and on 6.12 and 7.2 arm64 under QEMU, with the
// same calls through the agent.
import { describe, expect, test } from 'vitest';
import { PTE_ADDR_MASK } from '../arm64/hwdef.ts';
import { builtinLayout } from '../arm64/layout.ts';
import { kernelByName } from '../kernel.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { doMadvise } from '../mm/madvise.ts';
import { doMmap } from '../mm/mmap.ts';
import { System } from '../mm/system.ts';
import { Task } from '../mm/task.ts';
import { writeUser } from '../mm/user-access.ts';
import type { PmScanArg } from '../../harness/target.ts';
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
  const all = { flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0, returnMask: 0, vecLen: 16, badVec: false, nullVec: false };
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

// pagemap_scan_get_args()'s checks in their order, with pagemap_ioctl.c's sanity_tests_sd "wrong operation"
// calls on a 1000-page area under uffd-wp async (markers in every pte, nothing written). Measured through
// the agent on the host (6.18 x86_64), 6.12 and 7.2 arm64: the same answers on all three, walk_end included.
describe.each(['', '@6.12'])('reference%s: PAGEMAP_SCAN arguments (pagemap_scan_get_args())', (spec) => {
  const N = 1000n;
  const ALL = U.PAGE_IS_WPALLOWED | U.PAGE_IS_WRITTEN | U.PAGE_IS_FILE | U.PAGE_IS_PRESENT | U.PAGE_IS_SWAPPED | U.PAGE_IS_PFNZERO | U.PAGE_IS_HUGE;
  const W = U.PAGE_IS_WRITTEN;
  const WP = U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC;
  const ULONG_MAX = (1n << 64n) - 1n;

  /** sanity_tests_sd's area after wp_init() and wp_addr_range(), and a scan of it with the given fields */
  async function area() {
    const { referenceTarget } = await import('../../harness/targets/reference.ts');
    const p = await (await referenceTarget(spec)).spawn();
    const mem = await p.mmap(0n, N * PAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
    const uffd = await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY);
    if (isErr(mem) || isErr(uffd)) throw new Error('setup');
    expect(isErr(await p.uffdioApi(uffd, U.UFFD_API, U.UFFD_FEATURE_WP_UNPOPULATED | U.UFFD_FEATURE_WP_ASYNC))).toBe(false);
    expect(isErr(await p.uffdioRegister(uffd, mem, N * PAGE, U.UFFDIO_REGISTER_MODE_WP))).toBe(false);
    expect(await p.uffdioWriteprotect(uffd, mem, N * PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
    const base = { start: mem, end: mem + N * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0, returnMask: 0, vecLen: 500 };
    // wp_addr_range(): the exclusive-WP fast path, no vec
    const wp = await p.pagemapScan({ ...base, flags: WP, categoryMask: W, returnMask: W, vecLen: 0, nullVec: true });
    expect(wp).toEqual({ ret: 0, regions: [], walkEnd: mem + N * PAGE });
    /** the ioctl's return value (regions filled, or the errno) and walk_end as a page index */
    const scan = async (arg: Partial<PmScanArg>) => {
      const r = await p.pagemapScan({ ...base, ...arg });
      return isErr(r) ? r.name : { ret: r.ret, walkEnd: (r.walkEnd - mem) / PAGE };
    };
    return { mem, scan };
  }

  test('sanity_tests_sd\'s wrong operations: NULL vec with a length, flags -1 and 3|0xFF, return 0x1000, mask 0xFFF are EINVAL', async () => {
    const { scan } = await area();
    expect(await scan({ nullVec: true, categoryMask: ALL, returnMask: ALL })).toBe('EINVAL'); // output buffer must be specified with size
    expect(await scan({ flags: -1, categoryMask: W, returnMask: W })).toBe('EINVAL'); // wrong flag specified (int -1: ~0)
    expect(await scan({ flags: WP | 0xff, categoryMask: W, returnMask: W })).toBe('EINVAL'); // flag has extra bits specified
    expect(await scan({ categoryMask: W, returnMask: 0x1000 })).toBe('EINVAL'); // wrong return mask specified
    expect(await scan({ flags: WP, categoryMask: 0xfff, categoryAnyofMask: W, returnMask: W })).toBe('EINVAL'); // mixture of correct and wrong flag
    // bits far above the categories, and all ones
    expect(await scan({ categoryInverted: 2 ** 40, returnMask: W })).toBe('EINVAL');
    expect(await scan({ flags: 2 ** 40, returnMask: W })).toBe('EINVAL');
    expect(await scan({ categoryMask: -1, returnMask: W })).toBe('EINVAL');
  });

  test('sanity_tests_sd\'s valid edges: a zero range (walk_end == start), vec_len 0 with and without a NULL vec, no masks, ULONG_MAX max_pages', async () => {
    const { mem, scan } = await area();
    expect(await scan({ end: mem, categoryMask: ALL, returnMask: ALL })).toEqual({ ret: 0, walkEnd: 0n }); // Zero range size is valid
    expect(await scan({ end: mem, flags: WP, categoryMask: W, returnMask: W })).toEqual({ ret: 0, walkEnd: 0n });
    expect(await scan({ vecLen: 0, categoryMask: ALL, returnMask: ALL })).toEqual({ ret: 0, walkEnd: N }); // output buffer can be 0
    expect(await scan({ vecLen: 0, nullVec: true, categoryMask: ALL, returnMask: ALL })).toEqual({ ret: 0, walkEnd: N }); // ... and NULL
    expect(await scan({ returnMask: W })).toEqual({ ret: 1, walkEnd: N }); // no selection mask is specified: one region, categories 0
    expect(await scan({ categoryMask: W, categoryAnyofMask: W })).toEqual({ ret: 0, walkEnd: N }); // no return mask is specified
    expect(await scan({ flags: WP, categoryInverted: ALL, returnMask: W })).toEqual({ ret: 1, walkEnd: N }); // PAGEMAP_BITS_ALL with WP
    expect(await scan({ maxPages: ULONG_MAX, categoryMask: W, returnMask: W, vecLen: 1 })).toEqual({ ret: 0, walkEnd: N });
  });

  test('the order of the checks: flags and masks, start alignment, access_ok(start), then a NULL vec with a length, then access_ok(vec)', async () => {
    const { mem, scan } = await area();
    expect(await scan({ flags: -1, nullVec: true, returnMask: W })).toBe('EINVAL');
    expect(await scan({ categoryMask: 0xfff, nullVec: true, returnMask: W })).toBe('EINVAL');
    expect(await scan({ start: mem + 1n, nullVec: true, returnMask: W })).toBe('EINVAL');
    expect(await scan({ start: mem + 1n, end: mem - PAGE, returnMask: W })).toBe('EINVAL'); // alignment before access_ok
    expect(await scan({ end: mem - PAGE, nullVec: true, returnMask: W })).toBe('EFAULT'); // end < start: access_ok first
    expect(await scan({ start: 0xffff_0000_0000_0000n, end: 0xffff_0000_0001_0000n, nullVec: true, returnMask: W })).toBe('EFAULT');
    expect(await scan({ end: mem, nullVec: true, vecLen: 1, returnMask: W })).toBe('EINVAL'); // even over a zero range
    expect(await scan({ badVec: true, vecLen: 0, returnMask: W })).toBe('EFAULT');
  });
});

// pagemap_scan_pmd_entry()'s PAGE_IS_WRITTEN-only fast path (categoryAnyofMask 0) against its general
// loop (the same question with categoryAnyofMask PAGE_IS_WRITTEN, which selects and reports alike):
// the same regions, walk_end and protections left behind, however max_pages and the vector cut the
// runs of written pages, on small pages and on THP split into contiguous blocks.
describe('PAGEMAP_SCAN: the PAGE_IS_WRITTEN-only fast path', () => {
  const N = 1024n;
  test.each([false, true])('matches the general loop (THP: %s)', async (thp) => {
    const fc = (await import('fast-check')).default;
    const { referenceTarget } = await import('../../harness/targets/reference.ts');
    const target = await referenceTarget('');
    const area = async (written: readonly boolean[]) => {
      const p = await target.spawn();
      const raw = await p.mmap(0n, N * PAGE + HPAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n);
      const uffd = await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK | U.UFFD_USER_MODE_ONLY);
      if (isErr(raw) || isErr(uffd)) throw new Error('setup');
      const mem = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
      expect(await p.madvise(mem, N * PAGE, thp ? U.MADV_HUGEPAGE : U.MADV_NOHUGEPAGE)).toBe(0);
      expect(await p.madvise(mem, N * PAGE, U.MADV_POPULATE_WRITE)).toBe(0);
      expect(isErr(await p.uffdioApi(uffd, U.UFFD_API, U.UFFD_FEATURE_WP_UNPOPULATED | U.UFFD_FEATURE_WP_ASYNC))).toBe(false);
      expect(isErr(await p.uffdioRegister(uffd, mem, N * PAGE, U.UFFDIO_REGISTER_MODE_WP))).toBe(false);
      expect(await p.uffdioWriteprotect(uffd, mem, N * PAGE, U.UFFDIO_WRITEPROTECT_MODE_WP)).toBe(0);
      expect((await p.increment(written.flatMap((w, i) => (w ? [mem + BigInt(i) * PAGE] : [])))).ok).toBe(true);
      return { p, mem };
    };
    await fc.assert(
      fc.asyncProperty(
        // runs of written and protected pages, long enough to cover whole contiguous blocks
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 1, max: 80 })), { minLength: 1, maxLength: 60 }).map((runs) => {
          const written = runs.flatMap(([w, n]) => Array<boolean>(n).fill(w)).slice(0, Number(N));
          return [...written, ...Array<boolean>(Number(N) - written.length).fill(false)];
        }),
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 1, max: 40 }),
        async (written, maxPages, vecLen) => {
          const results = [];
          for (const anyof of [0, U.PAGE_IS_WRITTEN]) {
            const { p, mem } = await area(written);
            const arg = { start: mem, end: mem + N * PAGE, flags: U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC, maxPages: BigInt(maxPages) };
            const r = await p.pagemapScan({ ...arg, categoryInverted: 0, categoryMask: U.PAGE_IS_WRITTEN, categoryAnyofMask: anyof, returnMask: U.PAGE_IS_WRITTEN, vecLen });
            // the descriptors left behind but for their pages (each process has its own): protections, and the blocks unfolded and folded again
            const after = await p.descriptorsOf!(Array.from({ length: Number(N) }, (_, i) => mem + BigInt(i) * PAGE));
            if (isErr(r)) throw new Error('scan');
            const leaves = after.map((d) => (isErr(d) ? d : d.entries.at(-1)!.value & ~PTE_ADDR_MASK));
            results.push({ ret: r.ret, regions: r.regions.map((g) => [(g.start - mem) / PAGE, (g.end - mem) / PAGE]), walkEnd: (r.walkEnd - mem) / PAGE, leaves });
            await p.exit();
          }
          expect(results[0]).toEqual(results[1]);
        },
      ),
      { numRuns: 12 },
    );
    await target.close();
  }, 60_000);
});
