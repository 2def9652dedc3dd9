// fork()'s copy of an address space: dup_mmap() (mm/mmap.c) and the page
// table copy under it, copy_page_range() (mm/memory.c) with its huge pmd
// (copy_huge_pmd(), mm/huge_memory.c) and hugetlb (copy_hugetlb_page_range(),
// mm/hugetlb.c) levels. A private page becomes shared copy-on-write: write
// protected in both processes and no longer exclusive. uffd-wp, in entries
// and markers, goes to the child only where its area stays registered for
// it, which takes UFFD_FEATURE_EVENT_FORK (dup_userfaultfd()). Pinned pages
// (the early COW) are not modelled: nothing here pins.

import type { Pte } from '../arm64/pgtable.ts';
import { applyChanged, type Changed, changedTo, PerAttrs, pfnOfWords, wordAt } from '../arm64/pte-words.ts';
import { isPteMarkerEntry, PTE_MARKER_GUARD, PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP, pteMarkerGet } from '../arm64/swapops.ts';
import { folioPteBatch, isNormalPlainPresent } from './internal.ts';
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

/**
 * __copy_present_ptes()'s entries from a parent's present one (called through sys.fn): the
 * parent's keeps it (COW write protection), the child's also clean in a
 * shared area, old, and uffd-wp only where the child keeps it. For a
 * plain entry, both also as changes of a table's words, worked out once
 * per attribute pattern.
 */
export function copyEntries(mm: Mm, dst: Vma, src: Vma) {
  const pg = mm.pg;
  const cow = isCowMapping(src.flags);
  const parent = (p: Pte): Pte => (cow && pg.pteWrite(p) ? pg.pteWrprotect(p) : p);
  const child = (p: Pte): Pte => {
    p = parent(p);
    if (src.flags & V.VM_SHARED) p = pg.pteMkclean(p);
    p = pg.pteMkold(p);
    return dst.flags & V.VM_UFFD_WP ? p : pg.pteClearUffdWp(p);
  };
  // a plain present entry (not contiguous, not special: its folio found by its pfn): both changes at once
  const plainWords = new PerAttrs((p) =>
    isNormalPlainPresent(mm, p) ? { parent: changedTo(p, parent(p)), child: changedTo(p, child(p)) } : null,
  );
  return { cow, child, plainWords };
}
type CopyEntries = ReturnType<typeof copyEntries>;

// copy_page_range()
function copyPageRange(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm): void {
  if (!vmaNeedsCopy(dst, src)) return;
  if (src.flags & V.VM_HUGETLB) return srcMm.sys.fn.copyHugetlbPageRange(dst, src, dstMm, srcMm);
  const entries = srcMm.sys.fn.copyEntries(srcMm, dst, src);
  for (const { addr, val } of [...srcMm.pt.pmdsIn(src.start, src.end)]) {
    if (srcMm.pt.pmdIsTable(val)) copyPteRange(dst, dstMm, srcMm, addr < src.start ? src.start : addr, addr + PMD_SIZE > src.end ? src.end : addr + PMD_SIZE, entries);
    else copyHugePmd(dst, dstMm, srcMm, addr, val);
  }
}

// copy_pte_range(): each entry of one pte table over [start, end), into the child's table (made at the first entry to copy)
function copyPteRange(dst: Vma, dstMm: Mm, srcMm: Mm, start: bigint, end: bigint, entries: CopyEntries): void {
  const pg = srcMm.pg;
  const srcSlot = srcMm.pt.pteSlot(start, false);
  if (srcSlot === null) return;
  const total = Number((end - start) / PAGE);
  const w = srcMm.pt.pteTableWords(srcSlot);
  let dstFirst = -1;
  let dw = w;
  for (let i = 0, nr = 1, at = wordAt(srcSlot); i < total; i += nr, at += 2 * nr) {
    nr = 1;
    const lo = w[at]!;
    const hi = w[at + 1]!;
    if (lo === 0 && hi === 0) continue;
    if (dstFirst < 0) {
      dstFirst = dstMm.pt.pteSlot(start + BigInt(i) * PAGE, true)! - i * 8;
      dw = dstMm.pt.pteTableWords(dstFirst);
    }
    const plain = entries.plainWords.of(lo, hi);
    if (plain !== null && copySmallPteWords(srcMm, w, at, dw, wordAt(dstFirst) + 2 * i, plain, entries.cow)) continue;
    const slot = srcSlot + i * 8;
    const pte = srcMm.arch.ptepGet(slot);
    if (pg.ptePresent(pte)) nr = copyPresentPtes(dstMm, srcMm, dstFirst + i * 8, slot, pte, total - i, entries);
    else copyNonpresentPte(dst, dstMm, srcMm, dstFirst + i * 8, slot, pte);
  }
}

/**
 * copy_present_ptes() of a plain pte mapping a small folio, on the tables'
 * words (w[at] the parent's, dw[dat] the child's): nothing to batch, and
 * no contiguous block to unfold (the child's entry was none) or fold (that
 * takes a folio of 16 pages) in either table. False, with nothing done,
 * where it is not that, or a change would move the page: the caller takes
 * its full path.
 */
function copySmallPteWords(srcMm: Mm, w: Uint32Array, at: number, dw: Uint32Array, dat: number, change: { parent: Changed; child: Changed }, cow: boolean): boolean {
  if (change.child.attrs < 0 || change.parent.attrs < 0 || !srcMm.sys.phys.dupSmallRmapAt(pfnOfWords(w[at]!, w[at + 1]!))) return false;
  dw[dat] = w[at]!;
  dw[dat + 1] = w[at + 1]!;
  applyChanged(dw, dat, change.child);
  if (cow) applyChanged(w, at, change.parent);
  return true;
}

/**
 * copy_present_ptes(): a large folio's run of ptes in one batch; an
 * anonymous folio's pages are shared from now on
 * (folio_try_dup_anon_rmap_ptes() clears PageAnonExclusive).
 */
function copyPresentPtes(dstMm: Mm, srcMm: Mm, dstSlot: number, slot: number, pte: Pte, maxNr: number, entries: CopyEntries): number {
  const f = srcMm.vmNormalFolio(pte);
  const nr = folioPteBatch(srcMm, f, slot, pte, maxNr);
  if (f) {
    const page = f.pageIndex(srcMm.pg.ptePfn(pte));
    f.addMapcount(page, 1, nr);
    if (f.anon) f.setExclusive(page, false, nr);
  }
  // __copy_present_ptes(): wrprotect_ptes() over the batch where its first entry is writable
  if (entries.cow && srcMm.pg.pteWrite(pte)) srcMm.arch.wrprotectPtes(slot, nr);
  dstMm.arch.setPtes(dstSlot, entries.child(pte), nr);
  return nr;
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
    const marker = dstMm.sys.fn.copyPteMarker(entry, dst);
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

// copy_pte_marker(): poison and guard always, uffd-wp only to an area registered for it (called through sys.fn)
export function copyPteMarker(entry: bigint, dst: Vma): bigint {
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
 * entries and markers, only where the child keeps it. Called through sys.fn.
 */
export function copyHugetlbPageRange(dst: Vma, src: Vma, dstMm: Mm, srcMm: Mm): void {
  const pg = srcMm.pg;
  const cow = isCowMapping(src.flags);
  for (let addr = src.start; addr < src.end; addr += PMD_SIZE) {
    const slot = srcMm.pt.pmdSlot(addr, false);
    if (slot === null) continue;
    const entry = srcMm.pt.read(slot);
    if (pg.pteNone(entry)) continue;
    const leaf = pg.pteToSwpEntry(entry);
    if (!pg.pmdPresent(entry) && isPteMarkerEntry(leaf)) {
      const marker = dstMm.sys.fn.copyPteMarker(leaf, dst);
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
