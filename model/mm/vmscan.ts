// The reclaim MADV_PAGEOUT hands folios to (mm/vmscan.c shrink_folio_list()):
// anonymous folios go to swap and leave swap entries in their ptes, lazyfree
// ones (MADV_FREE) are dropped unless written since; shmem folios leave
// their ptes empty and go to swap through the page cache.

import type { Pte } from '../arm64/pgtable.ts';
import { PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { splitHugePmd } from './huge-memory.ts';
import type { Mm } from './mm.ts';
import { type Folio, PAGE_SIZE } from './physmem.ts';
import { splitAnonFolio } from './split-folio.ts';
import { VM_UFFD_WP, type Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** A folio picked for reclaim, with the address its first page is mapped at. */
export interface Picked {
  readonly folio: Folio;
  readonly base: bigint;
}

// reclaim_pages(): the folios a MADV_PAGEOUT walk isolated, in order
export function reclaimPages(mm: Mm, vma: Vma, picked: readonly Picked[]): void {
  for (const p of picked) reclaimFolio(mm, vma, p);
}

// shrink_folio_list() for one folio
function reclaimFolio(mm: Mm, vma: Vma, { folio, base }: Picked): void {
  if (!folio.anon) {
    reclaimShmemFolio(mm, vma, base, folio);
    return;
  }
  if (!folio.swapbacked) {
    discardLazyfree(mm, base, folio);
    return;
  }
  const swap = mm.sys.swap;
  if (!swap) return; // no swap: anonymous memory stays
  // add_to_swap(): a large folio needs a whole cluster, or is split and retried page by page
  const offset = swap.alloc(folio.nrPages);
  if (offset === null) {
    if (folio.nrPages === 1) return;
    for (const part of splitAnonFolio(mm, vma, base, folio)) {
      if (part.mapped()) reclaimFolio(mm, vma, { folio: part, base: base + (part.pfn - folio.pfn) * PAGE });
    }
    return;
  }
  // try_to_unmap(TTU_SPLIT_HUGE_PMD)
  if (folio.pmdMapped) splitHugePmd(mm, base);
  for (let i = 0; i < folio.nrPages; i++) {
    const slot = mm.pt.pteSlot(base + BigInt(i) * PAGE, false)!;
    // ptep_clear_flush(), then set_pte_at() of the swap entry
    mm.arch.setPteAt(slot, swapPte(mm, mm.arch.ptepGetAndClear(slot), folio.exclusive(i), offset + BigInt(i)));
    swap.write(offset + BigInt(i), mm.sys.phys.pageData(folio.pfn + BigInt(i)));
  }
  folio.clearMapcounts();
  mm.sys.phys.free(folio);
}

// try_to_unmap_one() for an anonymous page: the pte becomes its swap entry
function swapPte(mm: Mm, pteval: Pte, exclusive: boolean, offset: bigint): Pte {
  const pg = mm.pg;
  let swp = pg.swpEntryToPte(pg.swpEntry(mm.sys.swap!.type, offset));
  if (exclusive) swp = pg.pteSwpMkexclusive(swp);
  if (pg.pteSoftDirty(pteval)) swp = pg.pteSwpMksoftDirty(swp);
  if (pg.pteUffdWp(pteval)) swp = pg.pteSwpMkuffdWp(swp);
  return swp;
}

/**
 * try_to_unmap_one() of a lazyfree folio (__discard_anon_folio_pmd_locked()
 * for a pmd): a dirty entry, or a dirty folio, means it was written since
 * MADV_FREE: the entries stay (are put back) and the folio is swap-backed
 * again; otherwise the entries go and the folio is freed.
 */
function discardLazyfree(mm: Mm, base: bigint, folio: Folio): void {
  const pg = mm.pg;
  const slots = folio.pmdMapped ? [mm.pt.pmdSlot(base, false)!] : Array.from({ length: folio.nrPages }, (_, i) => mm.pt.pteSlot(base + BigInt(i) * PAGE, false)!);
  if (slots.some((s) => pg.pteDirty(mm.pt.read(s)))) folio.dirty = true;
  if (folio.dirty) {
    folio.swapbacked = true;
    return;
  }
  for (const s of slots) mm.pt.write(s, 0n);
  folio.pmdMapped = 0;
  folio.clearMapcounts();
  mm.sys.phys.free(folio);
}

/**
 * A shmem page: try_to_unmap() empties its pte (a dirty pte dirties the
 * folio), then shmem_writeout() moves a dirty folio to swap; a clean one
 * (never written) just leaves the page cache.
 */
function reclaimShmemFolio(mm: Mm, vma: Vma, base: bigint, folio: Folio): void {
  const inode = vma.file!;
  const slot = mm.pt.pteSlot(base, false)!;
  const pteval = mm.pt.read(slot);
  if (mm.pg.pteDirty(pteval)) folio.dirty = true;
  // pte_install_uffd_wp_if_needed(): a uffd-wp pte of a registered file area leaves a marker
  mm.pt.write(slot, vma.flags & VM_UFFD_WP && mm.pg.pteUffdWp(pteval) ? mm.pg.makePteMarker(PTE_MARKER_UFFD_WP) : 0n);
  folio.setMapcount(0, 0);
  const swap = mm.sys.swap;
  if (folio.dirty) {
    const offset = swap?.alloc(1) ?? null;
    if (offset === null) return; // redirty: it stays in the page cache
    swap!.write(offset, mm.sys.phys.pageData(folio.pfn));
    inode.swapped.set(folio.index, offset);
    mm.sys.shmemSwaplist.add(inode);
  }
  inode.pages.delete(folio.index);
  mm.sys.phys.free(folio);
}
