// Unmapping pages and freeing page tables (mm/memory.c): the zaps under
// munmap() and MADV_DONTNEED, with the rmap and swap bookkeeping they do.

import type { Pte } from '../arm64/pgtable.ts';
import { pfnOfWords, wordAt } from '../arm64/pte-words.ts';
import { isGuardMarkerEntry, PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { freeHugeFolio } from './hugetlb.ts';
import { splitHugePmd } from './huge-memory.ts';
import { folioPteBatch, normalPlainPresent } from './internal.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE, type Folio } from './physmem.ts';
import { PMD_SIZE } from './pgtables.ts';
import type { Inode } from './shmem.ts';
import * as V from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/**
 * folio_remove_rmap_ptes()/_pmd(): drops the mappings of nr pages from the
 * folio's page `page` (null: the folio's pmd); frees an anonymous folio
 * nobody maps any more.
 */
function unmapFolio(mm: Mm, f: Folio, page: number | null, nr = 1): void {
  if (page === null) f.pmdMapped--;
  else f.addMapcount(page, -1, nr);
  if (f.anon && !f.mapped()) mm.sys.phys.free(f);
}

/**
 * zap_pte_range()/zap_huge_pmd() over [start, end) of one area. Unless
 * `dropMarkers` (ZAP_FLAG_DROP_MARKER: munmap), a file area registered
 * for uffd-wp keeps its markers and leaves one where a uffd-wp pte was
 * (zap_install_uffd_wp_if_needed()), an anonymous area drops its uffd-wp
 * markers, and every area keeps its guard markers.
 */
export function zapRange(mm: Mm, start: bigint, end: bigint, dropMarkers: boolean): void {
  if (mm.sys.cfg.kernel.zapDrainsLru) mm.sys.lru.drain();
  const vma = mm.vmas.lookup(start);
  const keepMarkers = !dropMarkers && vma !== null && !vma.isAnonymous;
  const keepUffdWp = keepMarkers && (vma.flags & V.VM_UFFD_WP) !== 0;
  for (const { addr, slot, val } of [...mm.pt.pmdsIn(start, end)]) {
    if (mm.pt.pmdIsTable(val)) continue;
    // a huge pmd: a partial zap splits it first (__split_huge_pmd())
    if (addr >= start && addr + PMD_SIZE <= end) zapPmd(mm, addr, slot, val, dropMarkers);
    else splitHugePmd(mm, addr);
  }
  // swap_pte_batch(): a run of swap ptes for consecutive slots, alike but for the offset
  let run: { readonly addr: bigint; readonly pte: Pte; readonly offsets: bigint[] } | null = null;
  const endRun = () => {
    if (run) mm.sys.swap?.freeEntries(run.offsets);
    run = null;
  };
  const pg = mm.pg;
  for (const r of mm.pt.pteTableRuns(start, end)) {
    const total = Number((r.end - r.addr) >> 12n);
    const w = mm.pt.mem.pteTableWords(r.slot);
    for (let i = 0, nr = 1, at = wordAt(r.slot); i < total; i += nr, at += 2 * nr) {
      nr = 1;
      if (w[at] === 0 && w[at + 1] === 0) continue; // pte_none()
      if (!keepUffdWp && zapSmallFolioPteWords(mm, w, at)) continue;
      const slot = r.slot + i * 8;
      const addr = r.addr + BigInt(i) * PAGE;
      const pte = mm.arch.ptepGet(slot);
      if (pg.ptePresent(pte)) {
        endRun();
        nr = zapPresentPtes(mm, slot, pte, total - i, keepUffdWp);
        continue;
      }
      const next = zapNonpresentPte(mm, pte, dropMarkers, keepMarkers);
      if (next === pte) continue;
      mm.pt.write(slot, next);
      const e = pg.pteToSwpEntry(pte);
      if (!pg.isSwapEntry(e)) continue;
      const offset = pg.swpOffset(e);
      const n: bigint = run ? BigInt(run.offsets.length) : 0n;
      if (run && addr === run.addr + n * PAGE && offset === run.offsets[0]! + n && swapPteLike(mm, run.pte, pte)) run.offsets.push(offset);
      else {
        endRun();
        run = { addr, pte, offsets: [offset] };
      }
    }
  }
  endRun();
}

/**
 * zap_present_ptes(): a large folio's ptes go in one batch
 * (folio_pte_batch()), cleared with get_and_clear_full_ptes(); returns how
 * many ptes it zapped.
 */
function zapPresentPtes(mm: Mm, slot: number, pte: Pte, maxNr: number, keepUffdWp: boolean): number {
  const pg = mm.pg;
  const f = mm.vmNormalFolio(pte);
  const nr = folioPteBatch(mm, f, slot, pte, maxNr);
  const ptent = mm.arch.getAndClearFullPtes(slot, nr);
  if (f) {
    // zap_present_folio_ptes(): a file page written through these ptes is dirty from now on
    if (!f.anon && pg.pteDirty(ptent)) f.dirty = true;
    unmapFolio(mm, f, f.pageIndex(pg.ptePfn(ptent)), nr);
  }
  // zap_install_uffd_wp_if_needed()
  if (keepUffdWp && pg.pteUffdWp(ptent)) for (let k = 0; k < nr; k++) mm.arch.setPteAt(slot + k * 8, pg.makePteMarker(PTE_MARKER_UFFD_WP));
  return nr;
}

/**
 * zap_present_ptes() of an entry of a small folio (a batch of one) that is
 * not contiguous, on the table's words; false, with nothing done, for any
 * other entry, which takes the full path.
 */
function zapSmallFolioPteWords(mm: Mm, w: Uint32Array, at: number): boolean {
  const lo = w[at]!;
  const hi = w[at + 1]!;
  if (!normalPlainPresent(mm).of(lo, hi)) return false;
  const f = mm.sys.phys.folioAt(pfnOfWords(lo, hi));
  if (f !== null && f.nrPages !== 1) return false;
  // get_and_clear_full_ptes() of one entry
  w[at] = 0;
  w[at + 1] = 0;
  if (f) {
    if (!f.anon && mm.arch.dirty.of(lo, hi)) f.dirty = true;
    unmapFolio(mm, f, 0);
  }
  return true;
}

// zap_nonpresent_ptes(): what a swap entry or marker becomes
function zapNonpresentPte(mm: Mm, pte: Pte, dropMarkers: boolean, keepMarkers: boolean): Pte {
  const pg = mm.pg;
  if (pg.pteMarkerUffdWp(pte)) return keepMarkers ? pte : 0n;
  // guard markers go only with the markers (zap_drop_markers())
  if (isGuardMarkerEntry(pg.pteToSwpEntry(pte))) return dropMarkers ? 0n : pte;
  return 0n;
}

/** swap_pte_batch()'s test: two swap ptes alike but for their offsets (same device, same exclusive, soft-dirty and uffd-wp bits). */
export function swapPteLike(mm: Mm, a: Pte, b: Pte): boolean {
  const pg = mm.pg;
  return (
    pg.swpType(pg.pteToSwpEntry(a)) === pg.swpType(pg.pteToSwpEntry(b)) &&
    pg.pteSwpExclusive(a) === pg.pteSwpExclusive(b) &&
    pg.pteSwpSoftDirty(a) === pg.pteSwpSoftDirty(b) &&
    pg.pteSwpUffdWp(a) === pg.pteSwpUffdWp(b)
  );
}

// zap_huge_pmd(), __unmap_hugepage_range() for hugetlb: a pmd entry the zap covers whole
function zapPmd(mm: Mm, addr: bigint, slot: number, pmd: bigint, dropMarkers: boolean): void {
  // __unmap_hugepage_range(): unless dropping markers, a hugetlb entry write-protected by uffd-wp leaves one
  const vma = mm.vmas.lookup(addr);
  const marker = !dropMarkers && vma !== null && (vma.flags & V.VM_HUGETLB) !== 0 && (mm.pg.pmdPresent(pmd) ? mm.pg.pteUffdWp(pmd) : mm.pg.pteSwpUffdWpAny(pmd));
  mm.pt.write(slot, marker ? mm.pg.makePteMarker(PTE_MARKER_UFFD_WP) : 0n);
  if (!mm.pg.pmdPresent(pmd)) return;
  const f = mm.sys.phys.folioOf(mm.pg.pmdPfn(pmd));
  if (!f || mm.sys.phys.isZeroPfn(f.pfn)) return;
  if (f.hugetlb && f.anon) {
    // __unmap_hugepage_range(): a private huge page goes back to the pool once no process maps it (fork() shares it)
    if (--f.pmdMapped === 0) freeHugeFolio(mm, vma, addr, f);
    return;
  }
  unmapFolio(mm, f, null);
}

/**
 * unmap_mapping_range(even_cows = 1) from page index `first` to the end of
 * the file: zaps those pages from every area mapping inode, in every
 * process, private COWed copies included. No ZAP_FLAG_DROP_MARKER: uffd-wp
 * markers stay; the page tables stay too.
 */
export function unmapMappingRange(mms: Iterable<Mm>, inode: Inode, first: bigint): void {
  for (const mm of mms) {
    for (const v of [...mm.vmas.all()]) {
      if (v.file !== inode || v.pageIndex(v.end) <= first) continue;
      zapRange(mm, first > v.pgoff ? v.start + (first - v.pgoff) * PAGE : v.start, v.end, false);
    }
  }
}

/** free_pgtables(): pte tables no area uses any more go away. */
export function freePgtables(mm: Mm, start: bigint, end: bigint): void {
  for (const { addr, slot, val } of [...mm.pt.pmdsIn(start, end)]) {
    if (!mm.pt.pmdIsTable(val)) continue;
    if (mm.vmas.overlapping(addr, addr + PMD_SIZE).length === 0) mm.pt.freePteTable(slot);
  }
}
