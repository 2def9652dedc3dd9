// madvise() as the kernels answer it, through the Target API. Every
// expectation was measured on Debian's 7.2 arm64 kernel under QEMU
// (qemu-arm64@current) and, where a test says so, on 6.12 (qemu-arm64),
// with the same calls through the agent.
import { describe, expect, test } from 'vitest';
import { referenceTarget } from '../../harness/targets/reference.ts';
import { memfdOf as memfd, smapsOf as smaps } from '../../harness/testing/proc.ts';
import type { Proc } from '../../harness/target.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';

const PAGE = 4096n;
const HPAGE = 2n << 20n;
const A = 0x5000_0000_0000n;
/** output-address bits 12-49 of a descriptor, which differ from boot to boot */
const OA = ((1n << 50n) - 1n) & ~0xfffn;
const RW = U.PROT_READ | U.PROT_WRITE;

async function proc(spec = ''): Promise<Proc> {
  return (await referenceTarget(spec)).spawn();
}

async function anon(p: Proc, at: bigint, pages: bigint, prot = RW): Promise<bigint> {
  const a = await p.mmap(at, pages * PAGE, prot, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
  if (isErr(a)) throw new Error(String(a));
  return a;
}

const pick = (s: Record<string, string>, ...keys: string[]) => Object.fromEntries(keys.map((k) => [k, s[k]]));

/** the leaf descriptor of addr, its output address masked: "pte 68000000000bc3" */
async function leaf(p: Proc, addr: bigint): Promise<string> {
  const d = await p.descriptors!(addr);
  if (isErr(d)) throw new Error(String(d));
  const e = d.entries.at(-1)!;
  return `${e.level} ${(e.value & ~OA).toString(16)}`;
}

/** pagemap entries of n pages, bits 55-63 */
async function pm(p: Proc, addr: bigint, n: number): Promise<string[]> {
  const r = await p.pagemap(addr, n);
  if (isErr(r)) throw new Error(String(r));
  return [...r].map((v) => (v >> 55n).toString(16));
}

async function byte(p: Proc, addr: bigint): Promise<number | string> {
  const r = await p.read(addr, 1);
  return r.ok ? r.data[0]! : r.signal;
}

describe('the arguments and the walk over the areas (check_input_range(), madvise_walk_vmas())', () => {
  test('length 0 answers 0, a length that PAGE_ALIGN() wraps EINVAL, a hole ENOMEM once the areas are done', async () => {
    const p = await proc();
    const a = await anon(p, A, 4n);
    for (const advice of [U.MADV_FREE, U.MADV_COLD, U.MADV_GUARD_REMOVE, U.MADV_GUARD_INSTALL]) {
      expect(await p.madvise(a + 4n * PAGE, 0n, advice)).toBe(0);
      expect(await p.madvise(a + 2n * PAGE, 4n * PAGE, advice)).toMatchObject({ name: 'ENOMEM' });
    }
    expect(await p.madvise(a, (1n << 64n) - 1n, U.MADV_FREE)).toMatchObject({ name: 'EINVAL' });
    // the mapped part got the advice before the hole was reported
    expect(await pm(p, a + PAGE, 3)).toEqual(['0', '88', '88']);
  });
});

describe('MADV_DONTNEED (zap_pte_range() with reclaim_pt)', () => {
  test('a pte table covered whole and left empty is freed on 7.2, kept on 6.12; a guard marker keeps it', async () => {
    for (const [spec, leaves] of [['', ['pte e8000000000f43', 'pmd 0', 'pte 0', 'pte 0']], ['@6.12', ['pte e8000000000f43', 'pte 0', 'pte 0', 'pte 0']]] as const) {
      const p = await proc(spec);
      const s = await anon(p, A, 1536n);
      expect(await p.madvise(s, 1536n * PAGE, U.MADV_NOHUGEPAGE)).toBe(0);
      for (const i of [0n, 600n, 1100n]) await p.write(s + i * PAGE, new Uint8Array([1]));
      expect(await p.madvise(s + 256n * PAGE, 1024n * PAGE, U.MADV_DONTNEED)).toBe(0);
      const g = await anon(p, A + 0x800000n, 512n);
      expect(await p.madvise(g, 512n * PAGE, U.MADV_NOHUGEPAGE)).toBe(0);
      await p.write(g, new Uint8Array([1]));
      if (spec === '') expect(await p.madvise(g + PAGE, PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
      expect(await p.madvise(g, 512n * PAGE, U.MADV_DONTNEED)).toBe(0);
      expect([await leaf(p, s), await leaf(p, s + 600n * PAGE), await leaf(p, s + 1100n * PAGE), await leaf(p, g)]).toEqual(leaves);
      // none ptes are PAGE_IS_WRITTEN, a hole is not
      const scan = await p.pagemapScan({ start: s + 512n * PAGE, end: s + 514n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: U.PAGE_IS_WRITTEN, returnMask: U.PAGE_IS_WRITTEN, vecLen: 8 });
      expect(isErr(scan) ? scan : scan.ret).toBe(spec === '' ? 0 : 1);
    }
  });
});

describe('MADV_FREE (madvise_free_pte_range())', () => {
  test('written pages turn clean and old at once; MADV_PAGEOUT drops them, but keeps one stored to since', async () => {
    const p = await proc();
    const a = await anon(p, A, 8n);
    for (let i = 0n; i < 4n; i++) await p.write(a + i * PAGE, new Uint8Array([1 + Number(i)]));
    expect(await leaf(p, a)).toBe('pte e8000000000f43');
    expect(await p.madvise(a, 8n * PAGE, U.MADV_FREE)).toBe(0);
    // pte_mkclean(pte_mkold()): DIRTY and AF cleared, RDONLY set; the folio clean as well
    expect(await leaf(p, a)).toBe('pte 68000000000bc3');
    // the folios wait in the LRU batch: not yet lazyfree, still referenced (the fault marked them)
    expect(pick(await smaps(p, a), 'Private_Clean', 'Private_Dirty', 'Referenced', 'LazyFree')).toEqual({ Private_Clean: '16', Private_Dirty: '0', Referenced: '16', LazyFree: '0' });
    expect(await byte(p, a + PAGE)).toBe(2);
    expect(await p.write(a + 2n * PAGE, new Uint8Array([9]))).toMatchObject({ ok: true });
    expect(await leaf(p, a + 2n * PAGE)).toBe('pte 68000000000f43');
    expect(await p.madvise(a, 8n * PAGE, U.MADV_PAGEOUT)).toBe(0);
    // dropped, not swapped; the stored page stays (its pte dirty), as does the zero page
    expect(await pm(p, a, 4)).toEqual(['0', '0', '102', '0']);
    expect([await byte(p, a), await byte(p, a + 2n * PAGE)]).toEqual([0, 9]);
  });

  test('LazyFree shows once the batch moves: at 31 folios, or when MADV_POPULATE_* drains it', async () => {
    const p = await proc();
    const a = await anon(p, A, 40n);
    for (let i = 0n; i < 40n; i++) await p.write(a + i * PAGE, new Uint8Array([1]));
    expect(await p.madvise(a, 40n * PAGE, U.MADV_FREE)).toBe(0);
    expect(pick(await smaps(p, a), 'Private_Clean', 'Referenced', 'LazyFree')).toEqual({ Private_Clean: '160', Referenced: '160', LazyFree: '124' });
    // a store through GUP marks the folio dirty, not the pte
    expect(await p.madvise(a + 39n * PAGE, PAGE, U.MADV_POPULATE_WRITE)).toBe(0);
    expect(await leaf(p, a + 39n * PAGE)).toBe('pte 68000000000bc3');
    expect(pick(await smaps(p, a), 'Private_Dirty', 'LazyFree')).toEqual({ Private_Dirty: '4', LazyFree: '156' });
    expect(await p.madvise(a + 38n * PAGE, 2n * PAGE, U.MADV_PAGEOUT)).toBe(0);
    expect(await pm(p, a + 38n * PAGE, 2)).toEqual(['0', '102']);
  });

  test('anonymous private memory only; swap entries are freed; markers stay', async () => {
    const p = await proc();
    const fd = await memfd(p, 16n);
    const shared = await p.mmap(A, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n);
    const priv = await p.mmap(A + 0x100000n, 4n * PAGE, RW, U.MAP_PRIVATE | U.MAP_FIXED, fd, 0n);
    const shanon = await p.mmap(A + 0x200000n, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_ANONYMOUS | U.MAP_FIXED, -1, 0n);
    for (const a of [shared, priv, shanon]) expect(await p.madvise(a as bigint, 4n * PAGE, U.MADV_FREE)).toMatchObject({ name: 'EINVAL' });
    const e = await anon(p, A + 0x300000n, 4n);
    for (let i = 0n; i < 4n; i++) await p.write(e + i * PAGE, new Uint8Array([1]));
    expect(await p.madvise(e, 4n * PAGE, U.MADV_PAGEOUT)).toBe(0);
    expect(await p.madvise(e + PAGE, 2n * PAGE, U.MADV_FREE)).toBe(0);
    expect(await pm(p, e, 4)).toEqual(['80', '0', '0', '80']);
    expect(pick(await smaps(p, e), 'Swap')).toEqual({ Swap: '8' });
  });

  test('PROT_NONE pages are made lazyfree too', async () => {
    const p = await proc();
    const e = await anon(p, A, 4n);
    await p.write(e, new Uint8Array([1]));
    await p.mprotect(e, 4n * PAGE, U.PROT_NONE);
    expect(await p.madvise(e, 4n * PAGE, U.MADV_FREE)).toBe(0);
    expect(await leaf(p, e)).toBe('pte 60000000000b82');
    expect(pick(await smaps(p, e), 'Private_Clean', 'Private_Dirty')).toEqual({ Private_Clean: '4', Private_Dirty: '0' });
  });

  test('a PMD-mapped THP wholly in the range: pmd clean and old, lazyfree at once; reclaim drops the whole pmd', async () => {
    const p = await proc();
    const t = await anon(p, A, 1024n);
    await p.write(t, new Uint8Array([1]));
    expect(await p.madvise(t, HPAGE, U.MADV_FREE)).toBe(0);
    expect(await leaf(p, t)).toBe('pmd 68000000000bc1');
    // a large folio is moved at once (!folio_may_be_lru_cached()), and lru_lazyfree() leaves PG_referenced
    expect(pick(await smaps(p, t), 'Private_Clean', 'Referenced', 'LazyFree', 'AnonHugePages')).toEqual({ Private_Clean: '2048', Referenced: '2048', LazyFree: '2048', AnonHugePages: '2048' });
    expect(await p.madvise(t, HPAGE, U.MADV_PAGEOUT)).toBe(0);
    expect([await leaf(p, t), ...(await pm(p, t, 1))]).toEqual(['pmd 0', '0']);
  });

  test('part of a THP: the folio is split, only that part made lazyfree', async () => {
    const p = await proc();
    const t = await anon(p, A, 1024n);
    await p.write(t, new Uint8Array([1]));
    expect(await p.madvise(t, 4n * PAGE, U.MADV_FREE)).toBe(0);
    // the split left the zero-filled pages to the zero page (try_to_map_unused_to_zeropage())
    expect([await leaf(p, t), await leaf(p, t + 4n * PAGE)]).toEqual(['pte 68000000000bc3', 'pte 160000000000fc3']);
    expect(pick(await smaps(p, t), 'Rss', 'Private_Clean', 'Referenced', 'LazyFree', 'AnonHugePages')).toEqual({ Rss: '4', Private_Clean: '4', Referenced: '4', LazyFree: '0', AnonHugePages: '0' });
  });

  test('6.12: a fault does not mark the folio referenced, so MADV_FREE leaves Referenced 0', async () => {
    const p = await proc('@6.12');
    const a = await anon(p, A, 4n);
    await p.write(a, new Uint8Array([1]));
    await p.write(a + PAGE, new Uint8Array([1]));
    expect(await p.madvise(a, 4n * PAGE, U.MADV_FREE)).toBe(0);
    expect(pick(await smaps(p, a), 'Private_Clean', 'Referenced', 'LazyFree')).toEqual({ Private_Clean: '8', Referenced: '0', LazyFree: '0' });
  });
});

describe('where the LRU batches are drained', () => {
  test('truncating a memfd over pages (both), a store faulting a page in from swap (7.2), any zap (6.12)', async () => {
    for (const [spec, expected] of [['', ['4', '8', '8']], ['@6.12', ['4', '4', '12']]] as const) {
      const p = await proc(spec);
      const a = await anon(p, A, 4n);
      for (let i = 0n; i < 4n; i++) await p.write(a + i * PAGE, new Uint8Array([1]));
      expect(await p.madvise(a + 2n * PAGE, PAGE, U.MADV_PAGEOUT)).toBe(0);
      const fd = await memfd(p, 16n);
      const m = (await p.mmap(A + 0x100000n, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)) as bigint;
      await p.write(m + 2n * PAGE, new Uint8Array([1]));
      const lazyFree = async () => (await smaps(p, a)).LazyFree;
      expect(await p.madvise(a, PAGE, U.MADV_FREE)).toBe(0);
      expect(await p.ftruncate(fd, PAGE)).toBe(0);
      const got = [await lazyFree()];
      expect(await p.madvise(a + PAGE, PAGE, U.MADV_FREE)).toBe(0);
      expect(await p.write(a + 2n * PAGE, new Uint8Array([2]))).toMatchObject({ ok: true });
      got.push(await lazyFree());
      // a MADV_DONTNEED of a page never touched
      expect(await p.madvise(a + 3n * PAGE, PAGE, U.MADV_FREE)).toBe(0);
      expect(await p.madvise(m, PAGE, U.MADV_DONTNEED)).toBe(0);
      got.push(await lazyFree());
      expect(got).toEqual(expected);
    }
  });
});

describe('MADV_COLD (madvise_cold_or_pageout_pte_range())', () => {
  test('ptes and pmds made old, references forgotten; memfd pages too; EINVAL for hugetlb', async () => {
    const p = await proc();
    const a = await anon(p, A, 4n);
    await p.write(a, new Uint8Array([1]));
    await p.read(a + PAGE, 1);
    expect(await p.madvise(a, 4n * PAGE, U.MADV_COLD)).toBe(0);
    expect([await leaf(p, a), await leaf(p, a + PAGE)]).toEqual(['pte e8000000000b43', 'pte 160000000000fc3']);
    expect(pick(await smaps(p, a), 'Referenced', 'Private_Dirty')).toEqual({ Referenced: '0', Private_Dirty: '4' });
    const fd = await memfd(p, 16n);
    const m = (await p.mmap(A + 0x100000n, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)) as bigint;
    await p.write(m, new Uint8Array([1]));
    expect(await p.madvise(m, 4n * PAGE, U.MADV_COLD)).toBe(0);
    expect(await leaf(p, m)).toBe('pte e8000000000b43');
    const t = await anon(p, A + 0x400000n, 1024n);
    await p.write(t, new Uint8Array([1]));
    expect(await p.madvise(t, HPAGE, U.MADV_COLD)).toBe(0);
    expect(await leaf(p, t)).toBe('pmd e8000000000b41');
    expect(pick(await smaps(p, t), 'Referenced')).toEqual({ Referenced: '0' });
    const h = await p.mmap(A + 0x1000000n, HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED | U.MAP_HUGETLB, -1, 0n);
    expect(await p.madvise(h as bigint, HPAGE, U.MADV_COLD)).toMatchObject({ name: 'EINVAL' });
  });

  test('the deactivation waits in the LRU batch: a populate before a drain has its reference undone', async () => {
    const p = await proc();
    const other = await anon(p, A + 0x100000n, 1n);
    const a = await anon(p, A, 1n);
    const b = await anon(p, A + 0x200000n, 1n);
    for (const x of [a, b]) {
      await p.write(x, new Uint8Array([1]));
      await p.writeFile('/proc/self/clear_refs', '1');
      expect(await p.madvise(x, PAGE, U.MADV_COLD)).toBe(0);
    }
    // b: drained by another MADV_COLD first, so the populate's reference stays
    expect(await p.madvise(other, PAGE, U.MADV_COLD)).toBe(0);
    expect(await p.madvise(b, PAGE, U.MADV_POPULATE_READ)).toBe(0);
    expect(pick(await smaps(p, b), 'Referenced')).toEqual({ Referenced: '4' });
    // a: cold again, then populated while its deactivation is pending
    expect(await p.madvise(a, PAGE, U.MADV_COLD)).toBe(0);
    expect(await p.madvise(a, PAGE, U.MADV_POPULATE_READ)).toBe(0);
    expect(await leaf(p, a)).toBe('pte e8000000000b43');
    expect(pick(await smaps(p, a), 'Referenced')).toEqual({ Referenced: '0' });
  });
});

describe('MADV_POPULATE_READ/WRITE over mapped pages: GUP with FOLL_TOUCH', () => {
  test('ptes stay old, their folios are marked referenced (7.2 and 6.12)', async () => {
    for (const spec of ['', '@6.12']) {
      const p = await proc(spec);
      const a = await anon(p, A, 4n);
      await p.write(a, new Uint8Array([1]));
      await p.write(a + PAGE, new Uint8Array([1]));
      await p.writeFile('/proc/self/clear_refs', '1');
      expect(pick(await smaps(p, a), 'Referenced')).toEqual({ Referenced: '0' });
      expect(await p.madvise(a, 4n * PAGE, U.MADV_POPULATE_READ)).toBe(0);
      expect([await leaf(p, a), await leaf(p, a + 2n * PAGE)]).toEqual(['pte e8000000000b43', 'pte 160000000000fc3']);
      expect(pick(await smaps(p, a), 'Referenced')).toEqual({ Referenced: '8' });
    }
  });

  test('a huge pmd is made young (touch_pmd()), and dirty by MADV_POPULATE_WRITE', async () => {
    const p = await proc();
    const t = await anon(p, A, 1024n);
    await p.write(t, new Uint8Array([1]));
    expect(await p.madvise(t, HPAGE, U.MADV_FREE)).toBe(0);
    expect(await p.madvise(t, PAGE, U.MADV_POPULATE_READ)).toBe(0);
    expect(await leaf(p, t)).toBe('pmd 68000000000fc1');
    expect(await p.madvise(t, PAGE, U.MADV_POPULATE_WRITE)).toBe(0);
    expect(await leaf(p, t)).toBe('pmd e8000000000f41');
    expect(pick(await smaps(p, t), 'Private_Dirty', 'LazyFree')).toEqual({ Private_Dirty: '2048', LazyFree: '0' });
  });
});

describe('MADV_PAGEOUT', () => {
  test('PROT_NONE pages go to swap as well', async () => {
    const p = await proc();
    const a = await anon(p, A, 4n);
    await p.write(a, new Uint8Array([5]));
    await p.write(a + PAGE, new Uint8Array([6]));
    await p.mprotect(a, 4n * PAGE, U.PROT_NONE);
    expect(await p.madvise(a, 4n * PAGE, U.MADV_PAGEOUT)).toBe(0);
    expect(await pm(p, a, 3)).toEqual(['80', '80', '0']);
    await p.mprotect(a, 4n * PAGE, U.PROT_READ);
    expect(await byte(p, a)).toBe(5);
  });
});

describe('MADV_HUGEPAGE and MADV_NOHUGEPAGE inside a huge pmd', () => {
  test('the area split splits the pmd (vma_adjust_trans_huge()), the huge zero pmd too', async () => {
    const p = await proc();
    for (const [at, advice] of [[A, U.MADV_HUGEPAGE], [A + 0x800000n, U.MADV_NOHUGEPAGE]] as const) {
      const t = await anon(p, at, 1024n);
      await p.write(t, new Uint8Array([1]));
      expect(await p.madvise(t + 4n * PAGE, 4n * PAGE, advice)).toBe(0);
      expect(pick(await smaps(p, t), 'Rss', 'AnonHugePages')).toEqual({ Rss: '16', AnonHugePages: '0' });
      expect(pick(await smaps(p, t + 8n * PAGE), 'Rss', 'AnonHugePages')).toEqual({ Rss: '2016', AnonHugePages: '0' });
    }
    const z = await anon(p, A + 0xc00000n, 1024n);
    await p.read(z, 1);
    expect(await leaf(p, z)).toBe('pmd 160000000000fc1');
    expect(await p.madvise(z + 4n * PAGE, 4n * PAGE, U.MADV_NOHUGEPAGE)).toBe(0);
    expect(await leaf(p, z + 4n * PAGE)).toBe('pte 160000000000fc3');
  });
});

describe('guard regions (MADV_GUARD_INSTALL, MADV_GUARD_REMOVE)', () => {
  test('markers zap what was there, fault with SIGSEGV, and show in pagemap, PAGEMAP_SCAN and smaps', async () => {
    const p = await proc();
    const a = await anon(p, A, 8n);
    await p.write(a, new Uint8Array([1]));
    await p.write(a + PAGE, new Uint8Array([1]));
    expect(await p.madvise(a + PAGE, 2n * PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    expect(await leaf(p, a + PAGE)).toBe('pte 7c0');
    const raw = await p.pagemap(a + PAGE, 1);
    // PM_SWAP | PM_GUARD_REGION, the frame the marker's swap type and offset
    expect(isErr(raw) ? raw : raw[0]!.toString(16)).toBe('440000000000009f');
    expect(await pm(p, a, 4)).toEqual(['102', '88', '88', '0']);
    const s = await smaps(p, a);
    expect(pick(s, 'Rss', 'VmFlags')).toEqual({ Rss: '4', VmFlags: 'rd wr mr mw me gu ac' });
    expect([await byte(p, a + PAGE), (await p.write(a + 2n * PAGE, new Uint8Array([1]))).ok]).toEqual(['SIGSEGV', false]);
    expect(await p.madvise(a, 4n * PAGE, U.MADV_POPULATE_READ)).toMatchObject({ name: 'EFAULT' });
    const scan = await p.pagemapScan({ start: a, end: a + 4n * PAGE, flags: 0, maxPages: 0n, categoryInverted: 0, categoryMask: 0, categoryAnyofMask: U.PAGE_IS_GUARD, returnMask: 0x1ff, vecLen: 8 });
    expect(isErr(scan) ? scan : scan.regions).toEqual([{ start: a + PAGE, end: a + 3n * PAGE, categories: U.PAGE_IS_GUARD | U.PAGE_IS_SWAPPED | U.PAGE_IS_WRITTEN }]);
  });

  test('MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT and mprotect keep them; MADV_GUARD_REMOVE takes them, VM_MAYBE_GUARD stays', async () => {
    const p = await proc();
    const a = await anon(p, A, 8n);
    expect(await p.madvise(a + PAGE, 2n * PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    for (const advice of [U.MADV_DONTNEED, U.MADV_FREE, U.MADV_PAGEOUT]) expect(await p.madvise(a, 4n * PAGE, advice)).toBe(0);
    expect(await p.mprotect(a, 4n * PAGE, U.PROT_READ)).toBe(0);
    expect(await pm(p, a, 4)).toEqual(['0', '88', '88', '0']);
    expect(pick(await smaps(p, a), 'VmFlags')).toEqual({ VmFlags: 'rd mr mw me gu ac' });
    // the sticky flag does not keep the areas apart
    expect(await p.mprotect(a, 4n * PAGE, RW)).toBe(0);
    expect(pick(await smaps(p, a), 'range', 'VmFlags')).toEqual({ range: '500000000000-500000008000', VmFlags: 'rd wr mr mw me gu ac' });
    expect(await p.madvise(a, 2n * PAGE, U.MADV_GUARD_REMOVE)).toBe(0);
    expect(await pm(p, a, 4)).toEqual(['0', '0', '88', '0']);
    expect(await byte(p, a + PAGE)).toBe(0);
  });

  test('mremap moves them, munmap drops them', async () => {
    const p = await proc();
    const a = await anon(p, A, 8n);
    expect(await p.madvise(a + 2n * PAGE, PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    expect(await p.mremap(a, 8n * PAGE, 8n * PAGE, U.MREMAP_MAYMOVE | U.MREMAP_FIXED, A + 0x100000n)).toBe(A + 0x100000n);
    expect(await pm(p, A + 0x100000n, 4)).toEqual(['0', '0', '88', '0']);
    expect(pick(await smaps(p, A + 0x100000n), 'VmFlags')).toEqual({ VmFlags: 'rd wr mr mw me gu ac' });
    expect(await p.munmap(A + 0x100000n, 8n * PAGE)).toBe(0);
    const b = await anon(p, A + 0x100000n, 8n);
    expect(await pm(p, b, 4)).toEqual(['0', '0', '0', '0']);
    expect(pick(await smaps(p, b), 'VmFlags')).toEqual({ VmFlags: 'rd wr mr mw me ac' });
  });

  test('inside a THP the pmd is split; memfd, PROT_NONE areas take them, truncation keeps them; hugetlb refuses', async () => {
    const p = await proc();
    const t = await anon(p, A, 1024n);
    await p.write(t, new Uint8Array([1]));
    expect(await p.madvise(t + PAGE, PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    expect([await leaf(p, t + PAGE), await byte(p, t)]).toEqual(['pte 7c0', 1]);
    expect(pick(await smaps(p, t), 'Rss', 'AnonHugePages')).toEqual({ Rss: '2044', AnonHugePages: '0' });
    const fd = await memfd(p, 16n);
    const m = (await p.mmap(A + 0xa00000n, 4n * PAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)) as bigint;
    await p.write(m, new Uint8Array([7]));
    expect(await p.madvise(m, 2n * PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    expect(await p.ftruncate(fd, 0n)).toBe(0);
    expect(await pm(p, m, 3)).toEqual(['88', '88', '0']);
    const n = await anon(p, A + 0x2000000n, 4n, U.PROT_NONE);
    expect(await p.madvise(n, 2n * PAGE, U.MADV_GUARD_INSTALL)).toBe(0);
    expect(await pm(p, n, 3)).toEqual(['88', '88', '0']);
    const h = (await p.mmap(A + 0x1000000n, HPAGE, RW, U.MAP_PRIVATE | U.MAP_ANONYMOUS | U.MAP_FIXED | U.MAP_HUGETLB, -1, 0n)) as bigint;
    expect(await p.madvise(h, HPAGE, U.MADV_GUARD_INSTALL)).toMatchObject({ name: 'EINVAL' });
    expect(await p.madvise(h, HPAGE, U.MADV_GUARD_REMOVE)).toMatchObject({ name: 'EINVAL' });
  });

  test('6.12 has no guard regions: EINVAL', async () => {
    const p = await proc('@6.12');
    const a = await anon(p, A, 4n);
    expect(await p.madvise(a, PAGE, U.MADV_GUARD_INSTALL)).toMatchObject({ name: 'EINVAL' });
    expect(await p.madvise(a, 0n, U.MADV_GUARD_REMOVE)).toMatchObject({ name: 'EINVAL' });
  });
});

describe('Referenced of pages a fault put on the LRU (folio_add_lru() under MGLRU)', () => {
  test('memfd pages mapped old by fault-around count: 16 kB on 7.2, only the faulted page on 6.12', async () => {
    for (const [spec, referenced] of [['', '16'], ['@6.12', '4']] as const) {
      const p = await proc(spec);
      const fd = await memfd(p, 16n);
      const m1 = (await p.mmap(A, 16n * PAGE, RW, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)) as bigint;
      for (let i = 0n; i < 4n; i++) await p.write(m1 + i * PAGE, new Uint8Array([1]));
      const m2 = (await p.mmap(A + 0x200000n, 16n * PAGE, U.PROT_READ, U.MAP_SHARED | U.MAP_FIXED, fd, 0n)) as bigint;
      await p.read(m2, 1);
      expect(await leaf(p, m2 + PAGE)).toBe('pte 60000000000bc3');
      expect(pick(await smaps(p, m2), 'Rss', 'Referenced')).toEqual({ Rss: '16', Referenced: referenced });
    }
  });
});
