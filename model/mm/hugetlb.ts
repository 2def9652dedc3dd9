// hugetlb (mm/hugetlb.c, fs/hugetlbfs/inode.c): a pool of 2 MiB pages
// reserved at boot (hugepages=N), the reservations mmap() takes from it, and
// the faults that map its pages with PMD-level block entries. MAP_HUGETLB
// memory is a file on an internal hugetlbfs ("/anon_hugepage"): a shared
// mapping's pages live in its page cache, a private mapping's pages are
// anonymous. Only the default 2 MiB hstate is modelled.

import type { Pte } from '../arm64/pgtable.ts';
import { Errno } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { isPoisonMarkerEntry, PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { uffdWpWrite, type VmFault } from './fault.ts';
import type { Mm } from './mm.ts';
import { type Folio, HPAGE_PMD_ORDER } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import type { Inode, ShmemBacking } from './shmem.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { handleUserfault, type UffdCtx } from './userfaultfd.ts';

export const HPAGE_SIZE = PMD_SIZE;
/** ALIGN(len, huge_page_size()) */
export const hugeAlign = (len: bigint): bigint => (len + HPAGE_SIZE - 1n) & ~(HPAGE_SIZE - 1n);
export const HUGE_PAGE_SHIFT = 21;
/** MAP_HUGE_SHIFT, MAP_HUGE_MASK: a page-size log2 in the mmap flags */
const MAP_HUGE_SHIFT = 26;
const MAP_HUGE_MASK = 0x3f;

/** struct hstate counters for the 2 MiB size: HugePages_Total, _Free, _Rsvd, _Surp */
export class HugetlbPool {
  resv = 0;
  /** pages beyond nr_hugepages, kept only while in use or reserved */
  surplus = 0;
  /** h->free_huge_pages_node[]: the boot-time pages are spread over the nodes, node 0 first */
  private readonly freeOn: number[];
  /** h->next_nid_to_alloc and next_nid_to_free: where the pool grows and shrinks next, round robin */
  private nextAlloc = 0;
  private nextFree = 0;
  constructor(
    public total: number,
    nodes = 1,
  ) {
    this.freeOn = Array.from({ length: nodes }, () => 0);
    this.grow(total);
  }

  get free(): number {
    return this.freeOn.reduce((a, b) => a + b, 0);
  }

  // alloc_pool_huge_folio() n times, round robin over the nodes
  private grow(n: number): void {
    for (let i = 0; i < n; i++) {
      this.freeOn[this.nextAlloc]!++;
      this.nextAlloc = (this.nextAlloc + 1) % this.freeOn.length;
    }
  }

  // remove_pool_hugetlb_folio() n times: a free page of the next node that has one
  private shrink(n: number): void {
    for (let i = 0; i < n && this.free > 0; i++) {
      while (this.freeOn[this.nextFree] === 0) this.nextFree = (this.nextFree + 1) % this.freeOn.length;
      this.freeOn[this.nextFree]!--;
      this.nextFree = (this.nextFree + 1) % this.freeOn.length;
    }
  }

  // set_max_huge_pages(): free unreserved pages go; what is in use or reserved stays, as surplus
  resize(count: number): void {
    const persistent = this.total - this.surplus;
    if (count >= persistent) {
      const adopted = Math.min(this.surplus, count - persistent);
      this.surplus -= adopted;
      const added = count - persistent - adopted;
      this.total += added;
      this.grow(added);
      return;
    }
    const freed = Math.min(persistent - count, this.free - this.resv);
    this.total -= freed;
    this.shrink(freed);
    this.surplus += persistent - freed - count;
  }

  // free_huge_folio() of a page of node nid: a surplus page leaves the pool, any other waits in it
  release(nid: number): void {
    if (this.surplus > 0) {
      this.surplus--;
      this.total--;
    } else {
      this.freeOn[nid]!++;
    }
  }

  // dequeue_hugetlb_folio_vma(): a reserved page, else a free one nobody reserved, from the nearest node (0, where the CPU is); its node, or null
  take(reserved: boolean): number | null {
    if (reserved) this.resv--;
    else if (this.free - this.resv <= 0) return null;
    const nid = this.freeOn.findIndex((n) => n > 0);
    this.freeOn[nid]!--;
    return nid;
  }

  /**
   * alloc_hugetlb_folio_nodemask(__GFP_THISNODE) for a page migrating from
   * node `from` to `to`: a free page of `to` is taken and the old page freed
   * to `from`; where `to` has none, a fresh page takes the old one's place
   * in the pool (move_hugetlb_state()), which leaves the free counts alone.
   */
  migrate(from: number, to: number): void {
    if (this.freeOn[to] === 0) return;
    this.freeOn[to]!--;
    this.freeOn[from]!++;
  }

  // hugetlb_acct_memory(-n) -> return_unused_surplus_pages(): reservations dropped take free surplus pages with them
  unreserve(pages: number): void {
    this.resv -= pages;
    const gone = Math.min(pages, this.surplus, this.free);
    this.surplus -= gone;
    this.total -= gone;
    this.shrink(gone);
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
    pool.release(sys.phys.nidOf(f.pfn));
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
  pool.release(mm.sys.phys.nidOf(f.pfn));
  const resv = vma?.hugetlbResv;
  if (vma && resv && !resv.has(hugeIndex(vma, addr))) {
    resv.add(hugeIndex(vma, addr));
    pool.resv++;
  }
}

// make_huge_pte(): young, writable and dirty only when asked and allowed
export function makeHugePte(mm: Mm, vma: Vma, f: Folio, tryMkwrite: boolean): Pte {
  const pg = mm.pg;
  let entry = pg.pfnPte(f.pfn, vma.pageProt);
  entry = tryMkwrite && vma.flags & V.VM_WRITE ? pg.pteMkwrite(pg.pteMkdirty(entry)) : pg.pteWrprotect(entry);
  entry = pg.pteMkyoung(entry);
  return pg.pmdMkhuge(entry); // arch_make_huge_pte() for a PMD-sized page
}

/**
 * The address a hugetlb fault's message names: vmf->address, the huge
 * page's, unless the context asked for UFFD_FEATURE_EXACT_ADDRESS (measured:
 * missing and minor faults on 7.2 x86_64 and 6.18, uffd-wp ones on 6.18)
 */
function userfaultAddress(vma: Vma, addr: bigint): bigint {
  return (vma.uffdCtx?.features ?? 0n) & U.UFFD_FEATURE_EXACT_ADDRESS ? addr : addr & PMD_MASK;
}

/** hugetlb_fault() for addr in a hugetlb area */
export function hugetlbFault(mm: Mm, vma: Vma, addr: bigint, write: boolean): VmFault {
  const pg = mm.pg;
  const haddr = addr & PMD_MASK;
  const slot = mm.pt.pmdSlot(haddr, true)!;
  let pte = mm.pt.read(slot);
  // a poisoned page (UFFDIO_POISON) is VM_FAULT_HWPOISON_LARGE; a uffd-wp marker faults in as a missing page, which keeps the protection
  if (pte !== 0n && pg.isPteMarker(pte) && isPoisonMarkerEntry(pg.pteToSwpEntry(pte))) return 'HWPOISON';
  if (pte === 0n || pg.pteMarkerUffdWp(pte)) return hugetlbNoPage(mm, vma, addr, slot, write, pte !== 0n);
  // userfault-wp first: resolved here in async mode, then on to the CoW path
  if (vma.flags & V.VM_UFFD_WP && pg.pteUffdWp(pte) && write && !pg.pteWrite(pte)) {
    const handler = uffdWpWrite(mm, vma, userfaultAddress(vma, addr));
    if (handler) return handler;
    pte = pg.pteClearUffdWp(pte);
    mm.pt.write(slot, pte);
  }
  if (write && !pg.pteWrite(pte)) return hugetlbWp(mm, vma, addr, slot, pte);
  // huge_ptep_set_access_flags()
  let entry = pg.pteMkyoung(pte);
  if (write) entry = pg.pteMkdirty(entry);
  mm.pt.write(slot, pg.ptepSetAccessFlags(pte, entry));
  return 0;
}

// hugetlb_no_page(); `uffdWp`: over a uffd-wp marker
function hugetlbNoPage(mm: Mm, vma: Vma, addr: bigint, slot: number, write: boolean, uffdWp: boolean): VmFault {
  const haddr = addr & PMD_MASK;
  const inode = vma.file!;
  const idx = hugeIndex(vma, haddr);
  const shared = (vma.flags & V.VM_MAYSHARE) !== 0;
  // filemap_lock_hugetlb_folio(): a page in the cache goes to a MINOR context, a hole to a MISSING one
  const cached = inode.pages.has(idx);
  const reason = vma.flags & (cached ? V.VM_UFFD_MINOR : V.VM_UFFD_MISSING);
  if (reason) return handleUserfault(vma.uffdCtx as UffdCtx, userfaultAddress(vma, addr), write, reason);
  let f = shared ? inode.pages.get(idx) : undefined;
  if (!f) {
    const got = allocHugetlbFolio(mm, vma, idx);
    if (!got) return 'SIGBUS';
    f = got;
  }
  f.pmdMapped++;
  let entry = makeHugePte(mm, vma, f, (vma.flags & V.VM_SHARED) !== 0);
  // a page that was write-protected stays so even when populated
  if (uffdWp) entry = mm.pg.pteMkuffdWp(entry);
  mm.pt.write(slot, entry);
  // the CoW without a second fault, but never for a uffd-wp page: the store faults again, to resolve it first
  return write && !shared && !uffdWp ? hugetlbWp(mm, vma, haddr, slot, entry) : 0;
}

/**
 * alloc_hugetlb_folio() for the huge page idx of vma: a page this mapping
 * (or, shared, the file) reserved, else a free unreserved one; a shared
 * mapping's page goes into the file's cache (hugetlb_add_to_page_cache()),
 * a private one is a new anonymous page. null when the pool has none.
 */
export function allocHugetlbFolio(mm: Mm, vma: Vma, idx: bigint): Folio | null {
  const shared = (vma.flags & V.VM_MAYSHARE) !== 0;
  const inode = vma.file!;
  const resv = shared ? inode.hugetlbResv : vma.hugetlbResv;
  const reserved = resv?.has(idx) ?? false;
  const nid = mm.sys.hugetlb.take(reserved);
  if (nid === null) return null;
  resv?.delete(idx);
  const f = mm.sys.phys.alloc(HPAGE_PMD_ORDER, !shared, shared ? inode : null, idx, nid);
  f.hugetlb = true;
  if (shared) inode.pages.set(idx, f);
  else {
    vma.anonVma ??= mm.sys.newAnonVma();
    f.setExclusive(0, true, f.nrPages);
  }
  return f;
}

/**
 * hugetlb_wp(): a shared area's page, or a private area's anonymous page
 * mapped only here, becomes writable in place; any other page of a private
 * area (one fork() shares, or the file's page UFFDIO_CONTINUE mapped) is
 * copied into a new anonymous huge page (SIGBUS when the pool has none),
 * which keeps the entry's uffd-wp bit.
 */
function hugetlbWp(mm: Mm, vma: Vma, addr: bigint, slot: number, pte: Pte): VmFault {
  const pg = mm.pg;
  const old = mm.sys.phys.folioOf(pg.pmdPfn(pte));
  if (vma.flags & V.VM_MAYSHARE || !old || (old.anon && old.pmdMapped === 1)) {
    if (old?.anon) old.setExclusive(0, true, old.nrPages);
    // set_huge_ptep_writable()
    const entry = pg.pteMkwrite(pg.pteMkdirty(pte));
    mm.pt.write(slot, pg.ptepSetAccessFlags(pte, entry));
    return 0;
  }
  const f = allocHugetlbFolio(mm, vma, hugeIndex(vma, addr & PMD_MASK));
  if (!f) return 'SIGBUS';
  for (let i = 0n; i < BigInt(f.nrPages); i++) mm.sys.phys.setPageData(f.pfn + i, mm.sys.phys.pageData(old.pfn + i));
  f.pmdMapped = 1;
  let entry = makeHugePte(mm, vma, f, true);
  if (pg.pteUffdWp(pte)) entry = pg.pteMkuffdWp(entry);
  mm.pt.write(slot, entry);
  // hugetlb_remove_rmap() of the old page, which another mapping (or the cache) still holds
  old.pmdMapped--;
  return 0;
}

/** A split of a hugetlb area must fall on a huge page boundary (hugetlb_vm_op_split()). */
export function hugetlbSplitOk(vma: Vma, addr: bigint): boolean {
  return !(vma.flags & V.VM_HUGETLB) || addr <= vma.start || addr >= vma.end || (addr & ~PMD_MASK) === 0n;
}

/**
 * hugetlb_mfill_atomic_pte(): one huge page of UFFDIO_COPY, CONTINUE or
 * POISON at the pmd slot of dst. `copy` reads the source (copy_folio_from_user()):
 * each page's bytes (null: zeroes), or EFAULT where it faults. A copy into a shared area fills the file's cache
 * (EEXIST where it holds the page already, EFAULT past its end); a copy into a
 * private one makes an anonymous page; CONTINUE maps the cached page (EFAULT
 * where there is none), read-only in a private area; an entry already there
 * is EEXIST, but a uffd-wp or poison marker is overwritten.
 */
export function hugetlbMfillAtomicPte(mm: Mm, vma: Vma, slot: number, dst: bigint, mode: 'copy' | 'continue' | 'poison', wp: boolean, copy: () => readonly (Uint8Array | null)[] | Errno): Errno | null {
  const pg = mm.pg;
  const inode = vma.file!;
  const idx = hugeIndex(vma, dst);
  const shared = (vma.flags & V.VM_SHARED) !== 0;
  const uffdMarker = (pte: Pte) => pg.isPteMarker(pte) && (pg.pteMarkerUffdWp(pte) || isPoisonMarkerEntry(pg.pteToSwpEntry(pte)));
  if (mode === 'poison') {
    // don't overwrite any existing entry, even a marker
    if (mm.pt.read(slot) !== 0n) return new Errno('EEXIST');
    mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_POISONED));
    return null;
  }
  let f: Folio;
  if (mode === 'continue') {
    const cached = inode.pages.get(idx);
    if (!cached) return new Errno('EFAULT');
    f = cached;
  } else {
    if (shared && inode.pages.has(idx)) return new Errno('EEXIST');
    const data = copy();
    if (data instanceof Errno) return data;
    // the page cache add below: past the end of the file, EFAULT, with nothing taken from the pool
    if (shared && idx >= inode.size >> BigInt(HUGE_PAGE_SHIFT)) return new Errno('EFAULT');
    const got = allocHugetlbFolio(mm, vma, idx);
    if (!got) return new Errno(mm.pt.read(slot) !== 0n ? 'EEXIST' : 'ENOMEM');
    f = got;
    data.forEach((page, i) => mm.sys.phys.setPageData(f.pfn + BigInt(i), page));
  }
  const orig = mm.pt.read(slot);
  if (orig !== 0n && !uffdMarker(orig)) {
    if (mode === 'copy') {
      if (shared) inode.pages.delete(idx);
      mm.sys.phys.free(f);
      mm.sys.hugetlb.release(mm.sys.phys.nidOf(f.pfn));
    }
    return new Errno('EEXIST');
  }
  f.pmdMapped++;
  // no write bit for CONTINUE into a private area, nor with MODE_WP; always dirty and young
  let entry = makeHugePte(mm, vma, f, !wp && !(mode === 'continue' && !shared));
  entry = pg.pteMkyoung(pg.pteMkdirty(entry));
  if (wp) entry = pg.pteMkuffdWp(entry);
  mm.pt.write(slot, entry);
  return null;
}

/**
 * hugetlb_change_protection(): every huge page of [start, end) to `prot`,
 * with uffd-wp set or cleared where `uffd` says; no write upgrade (the next
 * store faults). uffd-wp puts markers in none entries (allocating the
 * table) and resolving takes them away. Called through sys.fn.
 */
export function hugetlbChangeProtection(mm: Mm, start: bigint, end: bigint, uffd: 'wp' | 'resolve' | null, prot: bigint): void {
  const pg = mm.pg;
  for (let addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
    const slot = mm.pt.pmdSlot(addr, uffd === 'wp');
    if (slot === null) continue;
    const val = mm.pt.read(slot);
    if (val === 0n) {
      if (uffd === 'wp') mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
    } else if (pg.isPteMarker(val)) {
      // only a uffd-wp marker goes (a poison marker stays, measured: still SIGBUS after the range is unprotected)
      if (uffd === 'resolve' && pg.pteMarkerUffdWp(val)) mm.pt.write(slot, 0n);
    } else if (pg.pmdPresent(val)) {
      let entry = pg.pmdMkhuge(pg.pteModify(val, prot));
      if (uffd === 'wp') entry = pg.pteMkuffdWp(entry);
      else if (uffd === 'resolve') entry = pg.pteClearUffdWp(entry);
      mm.pt.write(slot, entry);
    }
  }
}
