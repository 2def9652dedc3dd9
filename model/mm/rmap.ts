// The reverse map, as far as the model keeps one (mm/rmap.c): where a folio
// is mapped, found as rmap_walk() and page_vma_mapped_walk() find it, and
// the migration entry try_to_migrate_one() leaves in a pte it unmaps.

import type { Pte } from '../arm64/pgtable.ts';
import type { SwpEntry } from '../arm64/swapops.ts';
import type { Mm } from './mm.ts';
import { type Folio, PAGE_SIZE } from './physmem.ts';
import { PMD_MASK } from './pgtables.ts';
import type { System } from './system.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** One area's mapping of a folio: its pmd, or the pte slots mapping its pages, by page index. */
export interface FolioMapping {
  readonly mm: Mm;
  readonly vma: Vma;
  /** where the folio's first page sits in the area's linear view */
  readonly base: bigint;
  readonly pmdSlot: number | null;
  readonly ptes: readonly (readonly [index: number, slot: number])[];
}

/**
 * rmap_walk() with page_vma_mapped_walk(): every mapping of a folio. An
 * anonymous folio (the model keeps no anon_vma chains) is looked for in
 * every anonymous area of each process whose linear pages hold its
 * `linear` index (folio->index), as rmap_walk_anon() finds it in the
 * anon_vma's interval tree, mremap()ed or not; a file folio in every area
 * of its file (the i_mmap tree). Throws where the mappings found do not add
 * up to the folio's mapcounts: a mapping the model does not look for is
 * not modelled.
 */
export function rmapWalk(sys: System, folio: Folio, linear: bigint): FolioMapping[] {
  const found: FolioMapping[] = [];
  for (const mm of sys.mms) {
    for (const [vma, base] of candidates(mm, folio, linear)) {
      const m = pageVmaMappedWalk(mm, vma, base, folio);
      if (m) found.push(m);
    }
  }
  const ptes = found.reduce((n, m) => n + m.ptes.length, 0);
  const pmds = found.filter((m) => m.pmdSlot !== null).length;
  let mapcount = 0;
  for (let i = 0; i < folio.nrPages; i++) mapcount += folio.mapcountOf(i);
  if (ptes !== mapcount || pmds !== folio.pmdMapped) throw new Error('rmap: a folio mapped where the model does not look for it (an anonymous folio at another address) is not modelled');
  return found;
}

// the areas rmap_walk_anon() or rmap_walk_file() visits, each with where the folio's first page would sit there (hugetlbfs
// indexes its cache in huge pages, vm_pgoff is in small ones)
function candidates(mm: Mm, folio: Folio, linear: bigint): [Vma, bigint][] {
  const mapping = folio.mapping;
  if (folio.anon || mapping === null) {
    const nr = BigInt(folio.nrPages);
    return mm.vmas
      .all()
      .filter((v) => v.anonVma !== null && linear < v.pgoff + ((v.end - v.start) >> 12n) && linear + nr > v.pgoff)
      .map((v): [Vma, bigint] => [v, v.start + (linear - v.pgoff) * PAGE]);
  }
  return mm.vmas
    .all()
    .filter((v) => v.file === mapping)
    .map((v): [Vma, bigint] => [v, v.start + ((folio.hugetlb ? folio.index * BigInt(folio.nrPages) : folio.index) - v.pgoff) * PAGE]);
}

// page_vma_mapped_walk() of one area: the huge pmd, or the ptes, mapping the folio's pages at their linear places
function pageVmaMappedWalk(mm: Mm, vma: Vma, base: bigint, folio: Folio): FolioMapping | null {
  const pg = mm.pg;
  if (folio.pmdMapped && (base & ~PMD_MASK) === 0n && vma.contains(base)) {
    const slot = mm.pt.pmdSlot(base, false);
    const pmd = slot === null ? 0n : mm.pt.read(slot);
    if (pmd !== 0n && !mm.pt.pmdIsTable(pmd) && pg.pmdPresent(pmd) && pg.pmdPfn(pmd) === folio.pfn) return { mm, vma, base, pmdSlot: slot, ptes: [] };
  }
  const ptes: [number, number][] = [];
  for (let i = 0; i < folio.nrPages; i++) {
    const addr = base + BigInt(i) * PAGE;
    if (!vma.contains(addr)) continue;
    const slot = mm.pt.pteSlot(addr, false);
    const pte = slot === null ? 0n : mm.pt.read(slot);
    if (pte !== 0n && pg.ptePresent(pte) && pg.ptePfn(pte) === folio.pfn + BigInt(i)) ptes.push([i, slot!]);
  }
  return ptes.length ? { mm, vma, base, pmdSlot: null, ptes } : null;
}

/**
 * try_to_migrate_one() for a present pte of page i (set_pmd_migration_entry()
 * for a huge pmd, whose entry `toEntry` makes with swp_entry_to_pmd()): the
 * migration entry in its place, writable, readable-exclusive or readable,
 * with young, dirty, soft-dirty and uffd-wp carried (and the folio marked
 * dirty for a dirty entry).
 */
export function migrationPte(mm: Mm, folio: Folio, i: number, pteval: Pte, toEntry: (e: SwpEntry) => Pte = mm.pg.swpEntryToPte): Pte {
  const pg = mm.pg;
  const pfn = folio.pfn + BigInt(i);
  let e = pg.pteWrite(pteval)
    ? pg.makeWritableMigrationEntry(pfn)
    : folio.anon && folio.exclusive(i)
      ? pg.makeReadableExclusiveMigrationEntry(pfn)
      : pg.makeReadableMigrationEntry(pfn);
  if (pg.pteYoung(pteval)) e = pg.makeMigrationEntryYoung(e);
  if (pg.pteDirty(pteval)) {
    e = pg.makeMigrationEntryDirty(e);
    folio.dirty = true;
  }
  // pmd_swp_mksoft_dirty() and pmd_swp_mkuffd_wp() are arm64's pte ones
  let swp = toEntry(e);
  if (pg.pteSoftDirty(pteval)) swp = pg.pteSwpMksoftDirty(swp);
  if (pg.pteUffdWp(pteval)) swp = pg.pteSwpMkuffdWp(swp);
  return swp;
}
