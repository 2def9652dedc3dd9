// fork()'s copy of an address space: dup_mmap() (mm/mmap.c) and the page
// table copy under it, copy_page_range() (mm/memory.c) with its huge pmd
// (copy_huge_pmd(), mm/huge_memory.c) and hugetlb (copy_hugetlb_page_range(),
// mm/hugetlb.c) levels. A private page becomes shared copy-on-write: write
// protected in both processes and no longer exclusive. uffd-wp, in entries
// and markers, goes to the child only where its area stays registered for
// it, which takes UFFD_FEATURE_EVENT_FORK (dup_userfaultfd()). Pinned pages
// (the early COW) are not modelled: nothing here pins.

import type { Pte } from '../arm64/pgtable.ts';
import { isPteMarkerEntry, PTE_MARKER_GUARD, PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP, pteMarkerGet } from '../arm64/swapops.ts';
import { folioPteBatch } from './internal.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import { PMD_SIZE } from './pgtables.ts';
import { dupUserfaultfd, dupUserfaultfdComplete, type UffdCtx, type UffdEvent } from './userfaultfd.ts';
import * as V from './vma.ts';
import { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);
/** VM_COPY_ON_FORK: areas whose page tables a fault could not rebuild */
const VM_COPY_ON_FORK = V.VM_PFNMAP | V.VM_MIXEDMAP | V.VM_UFFD_WP | V.VM_MAYBE_GUARD;

/**
 * dup_mmap(): each area but MADV_DONTFORK ones into the child's mm, its
 * page tables copied where they must be; the FORK events the parent's
 * userfaultfds are to be sent (dup_userfaultfd_complete()), which fork()
 * waits on.
 */
export function dupMmap(mm: Mm, oldmm: Mm): UffdEvent[] {
  const fcs = new Map<UffdCtx, UffdCtx>();
  for (const mpnt of oldmm.vmas.all()) {
    if (mpnt.flags & V.VM_DONTCOPY) continue;
    // vm_area_dup(); hugetlb_dup_vma_private(): a private hugetlb area's reservations stay the parent's
    const tmp = new Vma(mpnt.start, mpnt.end, mpnt.flags & ~V.VM_LOCKED, mpnt.pgoff, mpnt.file, mpnt.pageProt);
    tmp.name = mpnt.name;
    tmp.uffdCtx = mpnt.uffdCtx;
    dupUserfaultfd(tmp, mm, fcs);
    // anon_vma_fork(): an anon_vma of its own, chained to the parent's
    if (mpnt.anonVma !== null) tmp.anonVma = mm.sys.newAnonVma();
    mm.vmas.insert(tmp);
    copyPageRange(tmp, mpnt, mm, oldmm);
  }
  return dupUserfaultfdComplete(fcs);
}

// is_cow_mapping()
const isCowMapping = (flags: number) => (flags & (V.VM_SHARED | V.VM_MAYWRITE)) === V.VM_MAYWRITE;

// vma_needs_copy(): what a fault could not fill again (anonymous pages, uffd-wp, special mappings) is copied
function vmaNeedsCopy(dst: Vma, src: Vma): boolean {
  return (dst.flags & VM_COPY_ON_FORK) !== 0 || src.anonVma !== null;
}

// copy_page_range()
function copyPageRange(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm): void {
  if (!vmaNeedsCopy(dst, src)) return;
  if (src.flags & V.VM_HUGETLB) return copyHugetlbPageRange(dst, src, dstMm, srcMm);
  for (const { addr, val } of [...srcMm.pt.pmdsIn(src.start, src.end)]) {
    if (srcMm.pt.pmdIsTable(val)) copyPteRange(dst, src, dstMm, srcMm, addr < src.start ? src.start : addr, addr + PMD_SIZE > src.end ? src.end : addr + PMD_SIZE);
    else copyHugePmd(dst, dstMm, srcMm, addr, val);
  }
}

// copy_pte_range(): each entry of one pte table over [start, end)
function copyPteRange(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm, start: bigint, end: bigint): void {
  const pg = srcMm.pg;
  const srcSlot = srcMm.pt.pteSlot(start, false);
  if (srcSlot === null) return;
  const total = Number((end - start) / PAGE);
  for (let i = 0, nr = 1; i < total; i += nr) {
    nr = 1;
    const slot = srcSlot + i * 8;
    const pte = srcMm.arch.ptepGet(slot);
    if (pg.pteNone(pte)) continue;
    const addr = start + BigInt(i) * PAGE;
    const dstSlot = dstMm.pt.pteSlot(addr, true)!;
    if (pg.ptePresent(pte)) nr = copyPresentPtes(dst, src, dstMm, srcMm, dstSlot, slot, pte, total - i);
    else copyNonpresentPte(dst, dstMm, srcMm, dstSlot, slot, pte);
  }
}

/**
 * copy_present_ptes(): a large folio's run of ptes in one batch; an
 * anonymous folio's pages are shared from now on
 * (folio_try_dup_anon_rmap_ptes() clears PageAnonExclusive).
 */
function copyPresentPtes(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm, dstSlot: number, slot: number, pte: Pte, maxNr: number): number {
  const f = srcMm.vmNormalFolio(pte);
  const nr = folioPteBatch(srcMm, f, slot, pte, maxNr);
  if (f) {
    const page = f.pageIndex(srcMm.pg.ptePfn(pte));
    f.addMapcount(page, 1, nr);
    if (f.anon) f.setExclusive(page, false, nr);
  }
  copyPresentPtesTo(dst, src, dstMm, srcMm, dstSlot, slot, pte, nr);
  return nr;
}

// __copy_present_ptes(): COW write protection in both, clean in a shared child, old, uffd-wp only where the child keeps it
function copyPresentPtesTo(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm, dstSlot: number, slot: number, pte: Pte, nr: number): void {
  const pg = srcMm.pg;
  if (isCowMapping(src.flags) && pg.pteWrite(pte)) {
    // wrprotect_ptes()
    for (let k = 0; k < nr; k++) srcMm.arch.setPteAt(slot + k * 8, pg.pteWrprotect(srcMm.arch.ptepGet(slot + k * 8)));
    pte = pg.pteWrprotect(pte);
  }
  if (src.flags & V.VM_SHARED) pte = pg.pteMkclean(pte);
  pte = pg.pteMkold(pte);
  if (!(dst.flags & V.VM_UFFD_WP)) pte = pg.pteClearUffdWp(pte);
  dstMm.arch.setPtes(dstSlot, pte, nr);
}

/**
 * copy_nonpresent_pte(): a swap entry gets another reference and is no
 * longer exclusive; a marker is copied as copy_pte_marker() says (uffd-wp
 * only to an area registered for it, guard always).
 */
function copyNonpresentPte(dst: Vma, dstMm: Mm, srcMm: Mm, dstSlot: number, slot: number, orig: Pte): void {
  const pg = srcMm.pg;
  const entry = pg.pteToSwpEntry(orig);
  if (isPteMarkerEntry(entry)) {
    const marker = copyPteMarker(entry, dst);
    if (marker) dstMm.pt.write(dstSlot, pg.makePteMarker(marker));
    return;
  }
  if (!pg.isSwapEntry(entry)) throw new Error('fork: a migration or device entry is not modelled');
  srcMm.sys.swap!.dup(pg.swpOffset(entry));
  let pte = orig;
  if (pg.pteSwpExclusive(orig)) {
    pte = pg.pteSwpClearExclusive(orig);
    srcMm.pt.write(slot, pte);
  }
  if (!(dst.flags & V.VM_UFFD_WP)) pte = pg.pteSwpClearUffdWp(pte);
  dstMm.pt.write(dstSlot, pte);
}

// copy_pte_marker(): poison and guard always, uffd-wp only to an area registered for it
function copyPteMarker(entry: bigint, dst: Vma): bigint {
  const srcm = pteMarkerGet(entry);
  let dstm = srcm & (PTE_MARKER_POISONED | PTE_MARKER_GUARD);
  if (srcm & PTE_MARKER_UFFD_WP && dst.flags & V.VM_UFFD_WP) dstm |= PTE_MARKER_UFFD_WP;
  return dstm;
}

/**
 * copy_huge_pmd(): an anonymous THP is shared write-protected, the huge
 * zero page is mapped again; a file THP is left for a fault to map.
 */
function copyHugePmd(dst: Vma, dstMm: Mm, srcMm: Mm, addr: bigint, pmd: bigint): void {
  const pg = srcMm.pg;
  if (!dst.isAnonymous) return;
  if (!pg.pmdPresent(pmd)) throw new Error('fork: a non-present huge pmd (a THP migration entry) is not modelled');
  const pfn = pg.pmdPfn(pmd);
  if (!srcMm.sys.phys.isZeroPfn(pfn)) {
    const f = srcMm.sys.phys.folioOf(pfn)!;
    f.pmdMapped++;
    f.setExclusive(0, false, f.nrPages);
  }
  const slot = srcMm.pt.pmdSlot(addr, false)!;
  // pmdp_set_wrprotect()
  srcMm.pt.write(slot, pg.pteWrprotect(srcMm.pt.read(slot)));
  let entry = pmd;
  if (!(dst.flags & V.VM_UFFD_WP)) entry = pg.pteClearUffdWp(entry);
  dstMm.pt.write(dstMm.pt.pmdSlot(addr, true)!, pg.pteMkold(pg.pteWrprotect(entry)));
}

/**
 * copy_hugetlb_page_range(): a private area's huge pages are shared
 * write-protected, a shared area's mapped again as they are; uffd-wp, in
 * entries and markers, only where the child keeps it.
 */
function copyHugetlbPageRange(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm): void {
  const pg = srcMm.pg;
  const cow = isCowMapping(src.flags);
  for (let addr = src.start; addr < src.end; addr += PMD_SIZE) {
    const slot = srcMm.pt.pmdSlot(addr, false);
    if (slot === null) continue;
    const entry = srcMm.pt.read(slot);
    if (pg.pteNone(entry)) continue;
    const leaf = pg.pteToSwpEntry(entry);
    if (!pg.pmdPresent(entry) && isPteMarkerEntry(leaf)) {
      const marker = copyPteMarker(leaf, dst);
      if (marker) dstMm.pt.write(dstMm.pt.pmdSlot(addr, true)!, pg.makePteMarker(marker));
      continue;
    }
    if (!pg.pmdPresent(entry)) throw new Error('fork: a hugetlb migration entry is not modelled');
    let copy = entry;
    const f = srcMm.sys.phys.folioOf(pg.pmdPfn(entry))!;
    f.pmdMapped++;
    if (f.anon) f.setExclusive(0, false, f.nrPages);
    if (cow) {
      srcMm.pt.write(slot, pg.pteWrprotect(entry));
      copy = pg.pteWrprotect(copy);
    }
    if (!(dst.flags & V.VM_UFFD_WP)) copy = pg.pteClearUffdWp(copy);
    dstMm.pt.write(dstMm.pt.pmdSlot(addr, true)!, copy);
  }
}
