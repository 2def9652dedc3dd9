// UFFDIO_MOVE. Every value here was measured the same on Debian's 7.2 x86_64
// kernel (QEMU) and the host's 6.18 (C programs making the same calls).
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';

const PAGE = 0x1000n;
const HPAGE = 0x200000n;
const RW = U.PROT_READ | U.PROT_WRITE;
const HOLES = U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
const errno = (r: unknown) => (U.isErr(r) ? r.name : r);
const res = (r: { error: U.Errno | null; progress: bigint | null }) => [errno(r.error), r.progress];
const { PM_PRESENT: P, PM_MMAP_EXCLUSIVE: X } = U;

async function pm(p: Proc, a: bigint): Promise<bigint> {
  return ((await p.pagemap(a, 1)) as BigUint64Array)[0]! & (U.PM_PRESENT | U.PM_SWAP | U.PM_FILE | U.PM_MMAP_EXCLUSIVE);
}

async function setup() {
  const p = await (await referenceTarget('')).spawn();
  const s = (await p.mmap(0n, 16n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
  const d = (await p.mmap(0n, 16n * PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
  const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
  await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_MOVE);
  await p.uffdioRegister(fd, d, 16n * PAGE, U.UFFDIO_REGISTER_MODE_MISSING);
  return { p, s, d, fd };
}

/** PAGEMAP_SCAN of [a, a + len): each region as [from, to, categories], offsets from a */
async function scan(p: Proc, a: bigint, len: bigint): Promise<bigint[][]> {
  const r = await p.pagemapScan({ start: a, end: a + len, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: 0x7f, returnMask: 0x7f, vecLen: 16 });
  if (U.isErr(r)) throw new Error(String(r));
  return r.regions.map((g) => [g.start - a, g.end - a, BigInt(g.categories)]);
}

describe('UFFDIO_MOVE of pages', () => {
  test('a page moves: the destination has it, the source nothing; EEXIST over a page, ENOENT from a hole unless ALLOW_SRC_HOLES', async () => {
    const { p, s, d, fd } = await setup();
    for (let i = 0; i < 4; i++) await p.write(s + BigInt(i) * PAGE, new Uint8Array([i + 1]));
    expect(res(await p.uffdioMove(fd, d, s, PAGE, 0n))).toEqual([null, PAGE]);
    expect([await pm(p, d), await pm(p, s)]).toEqual([P | X, 0n]);
    expect(await p.read(d, 1)).toEqual({ ok: true, data: new Uint8Array([1]) });
    expect(res(await p.uffdioMove(fd, d, s + PAGE, PAGE, 0n))).toEqual(['EEXIST', -17n]);
    expect(res(await p.uffdioMove(fd, d + PAGE, s, PAGE, 0n))).toEqual(['ENOENT', -2n]);
    expect(res(await p.uffdioMove(fd, d + PAGE, s, PAGE, HOLES))).toEqual([null, PAGE]);
    expect(await pm(p, d + PAGE)).toBe(0n);
    // pages 1-3 move, page 4 is a hole: EAGAIN with the three pages' bytes
    expect(res(await p.uffdioMove(fd, d + 2n * PAGE, s + PAGE, 4n * PAGE, 0n))).toEqual(['EAGAIN', 3n * PAGE]);
    expect(await p.read(d + 4n * PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([4]) });
    expect(res(await p.uffdioMove(fd, d + 9n * PAGE, s + 4n * PAGE, 2n * PAGE, HOLES))).toEqual([null, 2n * PAGE]);
    // within the destination area itself
    expect(res(await p.uffdioMove(fd, d + 9n * PAGE, d + 2n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
  });

  test('the zero page moves as the zero page', async () => {
    const { p, s, d, fd } = await setup();
    await p.read(s + 5n * PAGE, 1);
    expect(res(await p.uffdioMove(fd, d + 8n * PAGE, s + 5n * PAGE, PAGE, 0n))).toEqual([null, PAGE]);
    expect(await scan(p, d + 8n * PAGE, PAGE)).toEqual([[0n, PAGE, BigInt(U.PAGE_IS_PRESENT | U.PAGE_IS_PFNZERO | U.PAGE_IS_WRITTEN)]]);
    expect(await pm(p, s + 5n * PAGE)).toBe(0n);
  });

  test('EINVAL: unaligned, a bad mode (the field untouched); a range past the area, an unregistered or shared or read-only area (-22); ENOENT: no area', async () => {
    const { p, s, d, fd } = await setup();
    await p.write(s, new Uint8Array([1]));
    expect(res(await p.uffdioMove(fd, d + 1n, s, PAGE, 0n))).toEqual(['EINVAL', null]);
    expect(res(await p.uffdioMove(fd, d, s, PAGE, 4n))).toEqual(['EINVAL', null]);
    expect(res(await p.uffdioMove(fd, d + 15n * PAGE, s, 2n * PAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioMove(fd, s + 8n * PAGE, d, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    const sa = (await p.mmap(0n, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    await p.write(sa, new Uint8Array([1]));
    expect(res(await p.uffdioMove(fd, d + 10n * PAGE, sa, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    const ro = (await p.mmap(0n, 4n * PAGE, U.PROT_READ, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n)) as bigint;
    expect(res(await p.uffdioMove(fd, d + 10n * PAGE, ro, PAGE, 0n))).toEqual(['EINVAL', -22n]);
    expect(res(await p.uffdioMove(fd, d + 10n * PAGE, 0x10000n, PAGE, 0n))).toEqual(['ENOENT', -2n]);
  });

  test('a page fork() shares is EBUSY, and stays so once the child is gone (PageAnonExclusive is not given back)', async () => {
    const { p, s, d, fd } = await setup();
    await p.write(s + 6n * PAGE, new Uint8Array([9]));
    const child = await p.fork();
    if (U.isErr(child)) throw new Error(String(child));
    expect(res(await p.uffdioMove(fd, d + 10n * PAGE, s + 6n * PAGE, PAGE, 0n))).toEqual(['EBUSY', -16n]);
    await child.exit();
    expect(res(await p.uffdioMove(fd, d + 10n * PAGE, s + 6n * PAGE, PAGE, 0n))).toEqual(['EBUSY', -16n]);
    expect(await pm(p, d + 10n * PAGE)).toBe(0n);
  });

  test('a missing fault resolved by a move wakes the load (the selftest\'s move)', async () => {
    const { p, s, d, fd } = await setup();
    await p.write(s + 3n * PAGE, new Uint8Array([0x42]));
    const load = p.read(d + 3n * PAGE + 8n, 1);
    expect(await p.uffdRead(fd)).toMatchObject({ flags: 0n, address: d + 3n * PAGE });
    expect(res(await p.uffdioMove(fd, d + 3n * PAGE, s + 3n * PAGE, PAGE, U.UFFDIO_MOVE_MODE_DONTWAKE))).toEqual([null, PAGE]);
    let done = false;
    void load.then(() => (done = true));
    await p.pagemap(d, 1);
    expect(done).toBe(false);
    await p.uffdioWake(fd, d + 3n * PAGE, PAGE);
    expect(await load).toEqual({ ok: true, data: new Uint8Array([0]) });
    expect(await p.read(d + 3n * PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([0x42]) });
  });
});

describe('UFFDIO_MOVE of THPs', () => {
  async function thp(dstAdvice = U.MADV_HUGEPAGE) {
    const p = await (await referenceTarget('')).spawn();
    const ts = (await p.mmap(0x4000_0000_0000n, 4n * HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n)) as bigint;
    const td = (await p.mmap(0x4000_0100_0000n, 4n * HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n)) as bigint;
    await p.madvise(ts, 4n * HPAGE, U.MADV_HUGEPAGE);
    await p.madvise(td, 4n * HPAGE, dstAdvice);
    await p.write(ts, new Uint8Array(Number(2n * HPAGE)).fill(7));
    await p.read(ts + 2n * HPAGE, 1);
    const fd = (await p.userfaultfd(U.O_CLOEXEC | U.O_NONBLOCK)) as number;
    await p.uffdioApi(fd, U.UFFD_API, U.UFFD_FEATURE_MOVE);
    await p.uffdioRegister(fd, td, 4n * HPAGE, U.UFFDIO_REGISTER_MODE_MISSING);
    return { p, ts, td, fd };
  }
  const { PAGE_IS_HUGE: H, PAGE_IS_PRESENT: PR, PAGE_IS_WRITTEN: W, PAGE_IS_PFNZERO: Z } = U;
  const c = (n: number) => BigInt(n);

  test('aligned: the THP and the huge zero pmd move as pmds (move-pmd)', async () => {
    const { p, ts, td, fd } = await thp();
    expect(await scan(p, ts, 4n * HPAGE)).toEqual([
      [0n, 2n * HPAGE, c(H | PR | W)],
      [2n * HPAGE, 3n * HPAGE, c(H | PR | W | Z)],
    ]);
    expect(res(await p.uffdioMove(fd, td, ts, HPAGE, 0n))).toEqual([null, HPAGE]);
    expect(await pm(p, td)).toBe(P | X);
    expect(await scan(p, ts, 4n * HPAGE)).toEqual([
      [HPAGE, 2n * HPAGE, c(H | PR | W)],
      [2n * HPAGE, 3n * HPAGE, c(H | PR | W | Z)],
    ]);
    expect(await scan(p, td, 4n * HPAGE)).toEqual([[0n, HPAGE, c(H | PR | W)]]);
    expect(res(await p.uffdioMove(fd, td + HPAGE, ts + 2n * HPAGE, HPAGE, 0n))).toEqual([null, HPAGE]);
    expect(await scan(p, td, 4n * HPAGE)).toEqual([
      [0n, HPAGE, c(H | PR | W)],
      [HPAGE, 2n * HPAGE, c(H | PR | W | Z)],
    ]);
    expect(await p.read(td + 5n, 1)).toEqual({ ok: true, data: new Uint8Array([7]) });
  });

  test('to an unaligned destination: the source pmd and folio split, the pages move one by one (move-pmd-split)', async () => {
    const { p, ts, td, fd } = await thp();
    expect(res(await p.uffdioMove(fd, td + 2n * HPAGE + PAGE, ts + HPAGE, HPAGE - PAGE, 0n))).toEqual([null, HPAGE - PAGE]);
    expect((await scan(p, ts + HPAGE, HPAGE)).map((r) => r.map((x) => x))).toEqual([
      [0n, HPAGE - PAGE, c(W)],
      [HPAGE - PAGE, HPAGE, c(PR | W)],
    ]);
    expect(await scan(p, td + 2n * HPAGE, HPAGE)).toEqual([
      [0n, PAGE, c(W)],
      [PAGE, HPAGE, c(PR | W)],
    ]);
    expect(await p.read(td + 2n * HPAGE + PAGE, 1)).toEqual({ ok: true, data: new Uint8Array([7]) });
  });

  test('a destination pmd with a pte table: split and moved by ptes, EEXIST at the page there (EAGAIN, all but one page)', async () => {
    const { p, ts, td, fd } = await thp(U.MADV_NOHUGEPAGE);
    await p.uffdioZeropage(fd, td + HPAGE - PAGE, PAGE, 0n);
    expect(res(await p.uffdioMove(fd, td, ts, HPAGE, 0n))).toEqual(['EAGAIN', HPAGE - PAGE]);
    expect(await scan(p, ts, HPAGE)).toEqual([
      [0n, HPAGE - PAGE, c(W)],
      [HPAGE - PAGE, HPAGE, c(PR | W)],
    ]);
    expect(await scan(p, td, HPAGE)).toEqual([
      [0n, HPAGE - PAGE, c(PR | W)],
      [HPAGE - PAGE, HPAGE, c(PR | W | Z)],
    ]);
    // nothing left in the next pmd of the source: ENOENT; with ALLOW_SRC_HOLES all of it
    expect(res(await p.uffdioMove(fd, td + 3n * HPAGE, ts + 3n * HPAGE, HPAGE, 0n))).toEqual(['ENOENT', -2n]);
    expect(res(await p.uffdioMove(fd, td + 3n * HPAGE, ts + 3n * HPAGE, HPAGE, HOLES))).toEqual([null, HPAGE]);
  });
});

// From move_swap_pte(): not measured (the host has no swap device)
test('a page out in swap moves as its swap entry, soft-dirty where the layout has it; a load brings it back at the destination', async () => {
  const { p, s, d, fd } = await setup();
  await p.write(s, new Uint8Array([0x61]));
  expect(await p.madvise(s, PAGE, U.MADV_PAGEOUT)).toBe(0);
  expect(await pm(p, s)).toBe(U.PM_SWAP);
  expect(res(await p.uffdioMove(fd, d, s, PAGE, 0n))).toEqual([null, PAGE]);
  expect([await pm(p, d), await pm(p, s)]).toEqual([U.PM_SWAP, 0n]);
  expect(await p.read(d, 1)).toEqual({ ok: true, data: new Uint8Array([0x61]) });
});
