// move_pages(2) on the model, as the QEMU guests answer it (qemu-x86_64@current
// and qemu-arm64@current, two nodes, measured 2026-12-07): a migrated entry
// is the entry it was but for its output address; a folio mapped by two
// processes moves only with MPOL_MF_MOVE_ALL; a THP moves whole, so a
// second page of it asked for in the same run is busy; a dirty THP that
// clear_refs cleaned is soft-dirty again once it moved, as on both x86_64
// kernels (remove_migration_pmd()'s pmd_mkdirty() sets soft-dirty where the
// arch's does, and nothing clears it after, as remove_migration_pte() does).
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import type { Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { must } from '../../uapi/linux.ts';

const PAGE = 0x1000n;
const HPAGE = 0x200000n;
const RW = U.PROT_READ | U.PROT_WRITE;
/** arm64's output address, bits 12-47 */
const OA = ((1n << 48n) - 1n) & ~(PAGE - 1n);

async function leaf(p: Proc, addr: bigint): Promise<bigint> {
  return must(await p.descriptors!(addr), 'descriptors').entries.at(-1)!.value;
}

async function spawn(spec = ':rfc'): Promise<Proc> {
  return (await referenceTarget(spec)).spawn();
}

/** A 2 MiB-aligned THP area, and small pages after it. */
async function areas(p: Proc): Promise<{ thp: bigint; small: bigint }> {
  const raw = must(await p.mmap(0n, 3n * HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
  const thp = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
  must(await p.madvise(thp + HPAGE, PAGE * 4n, U.MADV_NOHUGEPAGE), 'madvise');
  return { thp, small: thp + HPAGE };
}

const move = (p: Proc, addrs: bigint[], nodes: number[] | null, flags = U.MPOL_MF_MOVE) => p.movePages(addrs, nodes, flags);

describe('move_pages', () => {
  test('a pte and a huge pmd come back as they were but for the output address', async () => {
    const p = await spawn('');
    const { thp, small } = await areas(p);
    await p.fill(thp, HPAGE, 1);
    await p.fill(small, PAGE, 1);
    await p.read(small + PAGE, 1);
    await p.fill(small + 2n * PAGE, PAGE, 1);
    const pages = [thp, small, small + 2n * PAGE];
    const before = await Promise.all(pages.map((a) => leaf(p, a)));
    expect(must(await move(p, pages, [1, 1, 1]), 'move_pages')).toEqual({ ret: 0, status: [1, 1, 1] });
    const after = await Promise.all(pages.map((a) => leaf(p, a)));
    expect(after.map((v) => v & ~OA)).toEqual(before.map((v) => v & ~OA));
    expect(after.map((v) => v & OA)).not.toContain(before[0]! & OA);
    expect(must(await move(p, [thp, small, small + PAGE, small + 3n * PAGE, 0x1000n], null), 'stat').status).toEqual([1, 1, -U.ERRNO.EFAULT, -U.ERRNO.ENOENT, -U.ERRNO.EFAULT]);
    expect(await p.read(thp + HPAGE - 1n, 1)).toEqual({ ok: true, data: Uint8Array.of(1) });
  });

  test('soft-dirty: a written pte keeps it, a cleaned one stays clean, a cleaned dirty THP has it again', async () => {
    const p = await spawn(':rfc');
    const { thp, small } = await areas(p);
    for (const [a, n] of [[thp, HPAGE], [small, 2n * PAGE]] as const) await p.fill(a, n, 1);
    must(await p.writeFile('/proc/self/clear_refs', '4'), 'clear_refs');
    await p.fill(small, PAGE, 2);
    const sd = async () => [...must(await p.pagemap(thp, 1), 'pagemap'), ...must(await p.pagemap(small, 2), 'pagemap')].map((e) => (e & U.PM_SOFT_DIRTY) !== 0n);
    expect(await sd()).toEqual([false, true, false]);
    must(await move(p, [thp, small, small + PAGE], [1, 1, 1]), 'move_pages');
    expect(await sd()).toEqual([true, true, false]);
  });

  test('a page mapped by two processes: EACCES, then moved for both with MPOL_MF_MOVE_ALL', async () => {
    const p = await spawn('');
    const a = must(await p.mmap(0n, PAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
    await p.fill(a, PAGE, 9);
    const child = must(await p.fork(), 'fork');
    expect(must(await move(p, [a], [1]), 'move_pages').status).toEqual([-U.ERRNO.EACCES]);
    expect(must(await move(p, [a], [1], U.MPOL_MF_MOVE_ALL), 'move_pages').status).toEqual([1]);
    expect(must(await move(child, [a], null), 'stat').status).toEqual([1]);
    expect(await child.read(a, 1)).toEqual({ ok: true, data: Uint8Array.of(9) });
    await child.exit();
  });

  test('the second page of a THP in one run is busy; a node without memory fails the call', async () => {
    const p = await spawn('');
    const raw = must(await p.mmap(0n, 2n * HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS, -1, 0n), 'mmap');
    const thp = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
    await p.fill(thp, HPAGE, 3);
    expect(must(await move(p, [thp, thp + PAGE, thp + 2n * PAGE], [1, 1, 1]), 'move_pages').status).toEqual([1, -U.ERRNO.EBUSY, 1]);
    expect(await move(p, [thp], [2])).toEqual(new U.Errno('ENODEV', 'move_pages'));
    expect(await move(p, [thp], [0], 1)).toEqual(new U.Errno('EINVAL', 'move_pages'));
  });
});
