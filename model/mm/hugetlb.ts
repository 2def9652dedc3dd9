// hugetlb (mm/hugetlb.c, fs/hugetlbfs/inode.c): a pool of 2 MiB pages
// reserved at boot (hugepages=N), the reservations mmap() takes from it, and
// the faults that map its pages with PMD-level block entries. MAP_HUGETLB
// memory is a file on an internal hugetlbfs ("/anon_hugepage"): a shared
// mapping's pages live in its page cache, a private mapping's pages are
// anonymous. Only the default 2 MiB hstate is modelled.

import type { Pte } from '../arm64/pgtable.ts';
import { uffdWpWrite, type VmFault } from './fault.ts';
import type { Mm } from './mm.ts';
import { type Folio, HPAGE_PMD_ORDER } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import type { Inode, ShmemBacking } from './shmem.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

export const HPAGE_SIZE = PMD_SIZE;
/** ALIGN(len, huge_page_size()) */
export const hugeAlign = (len: bigint): bigint => (len + HPAGE_SIZE - 1n) & ~(HPAGE_SIZE - 1n);
export const HUGE_PAGE_SHIFT = 21;
/** MAP_HUGE_SHIFT, MAP_HUGE_MASK: a page-size log2 in the mmap flags */
const MAP_HUGE_SHIFT = 26;
const MAP_HUGE_MASK = 0x3f;

/** struct hstate counters for the 2 MiB size: HugePages_Total, _Free, _Rsvd, _Surp */
export class HugetlbPool {
  free: number;
  resv = 0;
  /** pages beyond nr_hugepages, kept only while in use or reserved */
  surplus = 0;
  constructor(public total: number) {
    this.free = total;
  }

  // set_max_huge_pages(): free unreserved pages go; what is in use or reserved stays, as surplus
  resize(count: number): void {
    const persistent = this.total - this.surplus;
    if (count >= persistent) {
      const adopted = Math.min(this.surplus, count - persistent);
      this.surplus -= adopted;
      const added = count - persistent - adopted;
      this.total += added;
      this.free += added;
      return;
    }
    const freed = Math.min(persistent - count, this.free - this.resv);
    this.total -= freed;
    this.free -= freed;
    this.surplus += persistent - freed - count;
  }

  // free_huge_folio(): a surplus page leaves the pool, any other waits in it
  release(): void {
    if (this.surplus > 0) {
      this.surplus--;
      this.total--;
    } else {
      this.free++;
    }
  }

  // dequeue_hugetlb_folio_vma(): a reserved page, else a free one nobody reserved
  take(reserved: boolean): boolean {
    if (reserved) this.resv--;
    else if (this.free - this.resv <= 0) return false;
    this.free--;
    return true;
  }

  // hugetlb_acct_memory(-n) -> return_unused_surplus_pages(): reservations dropped take surplus pages with them
  unreserve(pages: number): void {
    this.resv -= pages;
    const gone = Math.min(pages, this.surplus);
    this.surplus -= gone;
    this.total -= gone;
    this.free -= gone;
  }

  // hugetlb_acct_memory()
  reserve(pages: number): boolean {
    if (this.free - this.resv < pages) return false;
    this.resv += pages;
    return true;
  }
}

/** hstate_sizelog(): the size a MAP_HUGETLB mmap asks for is the default one, or EINVAL. */
export function hugetlbSizeOk(flags: number): boolean {
  const log = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
  return log === 0 || log === HUGE_PAGE_SHIFT;
}

/** The huge page index in the file of addr in vma. */
export const hugeIndex = (vma: Vma, addr: bigint) => ((addr - vma.start) >> BigInt(HUGE_PAGE_SHIFT)) + (vma.pgoff >> 9n);

/**
 * hugetlb_reserve_pages() for huge pages [from, to) of inode: a private
 * mapping gets a resv_map of its own (returned), a shared one or a SysV
 * segment (no vma) reserves in the file; VM_NORESERVE reserves nothing.
 * false when the pool is short (the callers' ENOMEM).
 */
export function hugetlbReserve(pool: HugetlbPool, inode: Inode, from: bigint, to: bigint, flags: number): Set<bigint> | null | false {
  if (flags & V.VM_NORESERVE) return null;
  const pages = Array.from({ length: Number(to - from) }, (_, i) => from + BigInt(i));
  const wanted = flags & V.VM_MAYSHARE ? pages.filter((i) => !inode.pages.has(i) && !inode.hugetlbResv.has(i)) : pages;
  if (!pool.reserve(wanted.length)) return false;
  if (flags & V.VM_MAYSHARE) {
    for (const i of wanted) inode.hugetlbResv.add(i);
    return null;
  }
  return new Set(wanted);
}

// hugetlb_vm_op_close(): a private mapping's unused reservations over [start, end) go back
export function hugetlbVmaClose(mm: Mm, vma: Vma, start: bigint, end: bigint): void {
  const resv = vma.hugetlbResv;
  if (!resv) return;
  let dropped = 0;
  for (let a = start; a < end; a += HPAGE_SIZE) if (resv.delete(hugeIndex(vma, a))) dropped++;
  mm.sys.hugetlb.unreserve(dropped);
}

// hugetlbfs_evict_inode() -> remove_inode_hugepages(): the file's last reference is gone
export function hugetlbEvictInode(sys: ShmemBacking & { readonly hugetlb: HugetlbPool }, inode: Inode): void {
  const pool = sys.hugetlb;
  for (const f of inode.pages.values()) {
    sys.phys.free(f);
    pool.release();
  }
  inode.pages.clear();
  pool.unreserve(inode.hugetlbResv.size);
  inode.hugetlbResv.clear();
}

/**
 * free_huge_folio() of a private page unmapped by MADV_DONTNEED or munmap:
 * back to the pool, and a page of a mapping still there gets its
 * reservation back (HPageRestoreReserve, __unmap_hugepage_range()).
 */
export function freeHugeFolio(mm: Mm, vma: Vma | null, addr: bigint, f: Folio): void {
  const pool = mm.sys.hugetlb;
  mm.sys.phys.free(f);
  pool.release();
  const resv = vma?.hugetlbResv;
  if (vma && resv && !resv.has(hugeIndex(vma, addr))) {
    resv.add(hugeIndex(vma, addr));
    pool.resv++;
  }
}

// make_huge_pte(): young, writable and dirty only when asked and allowed
function makeHugePte(mm: Mm, vma: Vma, f: Folio, tryMkwrite: boolean): Pte {
  const pg = mm.pg;
  let entry = pg.pfnPte(f.pfn, vma.pageProt);
  entry = tryMkwrite && vma.flags & V.VM_WRITE ? pg.pteMkwrite(pg.pteMkdirty(entry)) : pg.pteWrprotect(entry);
  entry = pg.pteMkyoung(entry);
  return pg.pmdMkhuge(entry); // arch_make_huge_pte() for a PMD-sized page
}

/** hugetlb_fault() for addr in a hugetlb area */
export function hugetlbFault(mm: Mm, vma: Vma, addr: bigint, write: boolean): VmFault {
  const pg = mm.pg;
  const haddr = addr & PMD_MASK;
  const slot = mm.pt.pmdSlot(haddr, true)!;
  let pte = mm.pt.read(slot);
  // huge_pte_none_mostly(): a uffd-wp marker faults in as a missing page, which keeps the protection
  if (pte === 0n || pg.pteMarkerUffdWp(pte)) return hugetlbNoPage(mm, vma, haddr, slot, write, pte !== 0n);
  // userfault-wp first: resolved here in async mode, then on to the CoW path
  if (vma.flags & V.VM_UFFD_WP && pg.pteUffdWp(pte) && write && !pg.pteWrite(pte)) {
    const handler = uffdWpWrite(mm, vma, addr);
    if (handler) return handler;
    pte = pg.pteClearUffdWp(pte);
    mm.pt.write(slot, pte);
  }
  if (write && !pg.pteWrite(pte)) return hugetlbWp(mm, slot, pte);
  // huge_ptep_set_access_flags()
  let entry = pg.pteMkyoung(pte);
  if (write) entry = pg.pteMkdirty(entry);
  mm.pt.write(slot, pg.ptepSetAccessFlags(pte, entry));
  return 0;
}

// hugetlb_no_page(); `uffdWp`: over a uffd-wp marker
function hugetlbNoPage(mm: Mm, vma: Vma, haddr: bigint, slot: number, write: boolean, uffdWp: boolean): VmFault {
  if (vma.flags & (V.VM_UFFD_MISSING | V.VM_UFFD_MINOR)) throw new Error('userfaultfd: missing and minor faults of hugetlb areas are not modelled yet');
  const inode = vma.file!;
  const idx = hugeIndex(vma, haddr);
  const shared = (vma.flags & V.VM_MAYSHARE) !== 0;
  let f = shared ? inode.pages.get(idx) : undefined;
  if (!f) {
    // alloc_hugetlb_folio(): a page this mapping (or the file) reserved, else a free unreserved one
    const resv = shared ? inode.hugetlbResv : vma.hugetlbResv;
    const reserved = resv?.has(idx) ?? false;
    if (!mm.sys.hugetlb.take(reserved)) return 'SIGBUS';
    resv?.delete(idx);
    f = mm.sys.phys.alloc(HPAGE_PMD_ORDER, !shared, shared ? inode : null, idx);
    f.hugetlb = true;
    if (shared) inode.pages.set(idx, f);
    else {
      vma.anonVma ??= mm.sys.newAnonVma();
      f.setExclusive(0, true, f.nrPages);
    }
  }
  f.pmdMapped++;
  let entry = makeHugePte(mm, vma, f, (vma.flags & V.VM_SHARED) !== 0);
  // a page that was write-protected stays so even when populated
  if (uffdWp) entry = mm.pg.pteMkuffdWp(entry);
  mm.pt.write(slot, entry);
  // the CoW without a second fault, but never for a uffd-wp page: the store faults again, to resolve it first
  return write && !shared && !uffdWp ? hugetlbWp(mm, slot, entry) : 0;
}

/**
 * hugetlb_wp(): a shared page, or a private one mapped only here (without
 * fork() every private hugetlb page is), becomes writable in place.
 */
function hugetlbWp(mm: Mm, slot: number, pte: Pte): VmFault {
  const pg = mm.pg;
  // set_huge_ptep_writable()
  const entry = pg.pteMkwrite(pg.pteMkdirty(pte));
  mm.pt.write(slot, pg.ptepSetAccessFlags(pte, entry));
  return 0;
}

/** A split of a hugetlb area must fall on a huge page boundary (hugetlb_vm_op_split()). */
export function hugetlbSplitOk(vma: Vma, addr: bigint): boolean {
  return !(vma.flags & V.VM_HUGETLB) || addr <= vma.start || addr >= vma.end || (addr & ~PMD_MASK) === 0n;
}
