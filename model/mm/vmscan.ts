// MADV_PAGEOUT (mm/madvise.c madvise_cold_or_pageout_pte_range()) and the
// reclaim it hands folios to (mm/vmscan.c shrink_folio_list()): anonymous
// folios go to swap and leave swap entries in their ptes; shmem folios
// leave their ptes empty and go to swap through the page cache.

import type { Pte } from '../arm64/pgtable.ts';
import { PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { splitHugePmd } from './huge-memory.ts';
import type { Mm } from './mm.ts';
import { type Folio, PAGE_SIZE } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import { splitAnonFolio } from './split-folio.ts';
import { VM_UFFD_WP, type Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** A folio picked for reclaim, with the address its first page is mapped at. */
interface Picked {
  readonly folio: Folio;
  readonly base: bigint;
}

// madvise_pageout() over [start, end) of one area
export function madvisePageout(mm: Mm, vma: Vma, start: bigint, end: bigint): void {
  const picked: Picked[] = [];
  for (let haddr = start & PMD_MASK; haddr < end; haddr += PMD_SIZE) {
    const lo = haddr > start ? haddr : start;
    const hi = haddr + PMD_SIZE < end ? haddr + PMD_SIZE : end;
    pageoutPmd(mm, vma, haddr, lo, hi, picked);
  }
  for (const p of picked) reclaimFolio(mm, vma, p);
}

// madvise_cold_or_pageout_pte_range() for the block under one pmd
function pageoutPmd(mm: Mm, vma: Vma, haddr: bigint, lo: bigint, hi: bigint, picked: Picked[]): void {
  const pg = mm.pg;
  const pmd = mm.pt.pmdVal(haddr);
  if (pmd === 0n) return;
  if (!mm.pt.pmdIsTable(pmd)) {
    if (!pg.pmdPresent(pmd) || mm.sys.phys.isZeroPfn(pg.pmdPfn(pmd))) return;
    const folio = mm.sys.phys.folioOf(pg.pmdPfn(pmd));
    if (!folio || !folio.anon || folioMaybeMappedShared(folio)) return;
    if (hi - lo === PMD_SIZE) {
      picked.push({ folio, base: haddr });
      return;
    }
    splitAnonFolio(mm, vma, haddr, folio); // then page by page
  }
  for (let a = lo; a < hi; ) {
    const pte = mm.pt.pteVal(a);
    const folio = pte !== 0n && pg.ptePresent(pte) && !pg.pteProtnone(pte) ? mm.vmNormalFolio(pte) : null;
    if (!folio) {
      a += PAGE;
      continue;
    }
    const base = a - BigInt(folio.pageIndex(pg.ptePfn(pte))) * PAGE;
    if (folio.nrPages > 1) {
      const nr = pteBatch(mm, folio, a, hi);
      if (nr < folio.nrPages) {
        if (folioMaybeMappedShared(folio) || !folio.anon) {
          a += BigInt(nr) * PAGE;
          continue;
        }
        splitAnonFolio(mm, vma, base, folio);
        continue; // look at this page again, now a folio of its own
      }
    }
    // folio_mapcount() == folio_nr_pages(): mapped here only, every page once
    const mapcount = folio.mapcount.reduce((n, c) => n + c, 0);
    if (mapcount === folio.nrPages && !picked.some((p) => p.folio === folio)) picked.push({ folio, base });
    a += BigInt(folio.nrPages > 1 ? folio.nrPages : 1) * PAGE;
  }
}

/** madvise_folio_pte_batch(): consecutive ptes from a mapping consecutive pages of folio. */
function pteBatch(mm: Mm, folio: Folio, a: bigint, hi: bigint): number {
  const pg = mm.pg;
  const first = pg.ptePfn(mm.pt.pteVal(a));
  let nr = 1;
  for (let next = a + PAGE; next < hi && first + BigInt(nr) < folio.pfn + BigInt(folio.nrPages); next += PAGE, nr++) {
    const pte = mm.pt.pteVal(next);
    if (pte === 0n || !pg.ptePresent(pte) || pg.ptePfn(pte) !== first + BigInt(nr)) break;
  }
  return nr;
}

/** folio_maybe_mapped_shared(): some page is mapped more than once */
function folioMaybeMappedShared(f: Folio): boolean {
  for (let i = 0; i < f.nrPages; i++) if (f.mapcount[i]! + f.pmdMapped > 1) return true;
  return false;
}

// shrink_folio_list() for one folio
function reclaimFolio(mm: Mm, vma: Vma, { folio, base }: Picked): void {
  if (!folio.anon) {
    reclaimShmemFolio(mm, vma, base, folio);
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
    mm.pt.write(slot, swapPte(mm, mm.pt.read(slot), folio.anonExclusive[i] === 1, offset + BigInt(i)));
    swap.write(offset + BigInt(i), mm.sys.phys.pageData(folio.pfn + BigInt(i)));
  }
  folio.mapcount.fill(0);
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
  folio.mapcount[0] = 0;
  const swap = mm.sys.swap;
  if (folio.dirty) {
    const offset = swap?.alloc(1) ?? null;
    if (offset === null) return; // redirty: it stays in the page cache
    swap!.write(offset, mm.sys.phys.pageData(folio.pfn));
    inode.swapped.set(folio.index, offset);
  }
  inode.pages.delete(folio.index);
  mm.sys.phys.free(folio);
}
