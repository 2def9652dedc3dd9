// PMD-mapped THP (mm/huge_memory.c): the split of a huge pmd into a pte
// table, and a huge pmd's migration entry. The huge pmd faults are in
// fault.ts.

import type { Pmd } from '../arm64/pgtable.ts';
import { SWP_MIGRATION_READ } from '../arm64/swapops.ts';
import type { Mm } from './mm.ts';
import type { Folio } from './physmem.ts';
import { migrationPte } from './rmap.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import type { Vma } from './vma.ts';

/**
 * __split_huge_pmd_locked(): a pmd-mapped THP becomes 512 ptes carrying its
 * young, dirty, write, soft-dirty and uffd-wp state; the huge zero page
 * becomes 512 zero-page ptes.
 */
export function splitHugePmd(mm: Mm, haddr: bigint): void {
  const slot = mm.pt.pmdSlot(haddr, false);
  if (slot === null) return;
  const pmd = mm.pt.read(slot);
  if (pmd === 0n || mm.pt.pmdIsTable(pmd) || !mm.pg.pmdPresent(pmd)) return;
  const vma = mm.vmas.lookup(haddr);
  const prot = vma?.pageProt ?? 0n;
  const pg = mm.pg;
  const phys = mm.sys.phys;
  // pmdp_invalidate(): present-invalid while the table is rebuilt
  mm.pt.write(slot, pg.pmdMkinvalid(pmd));
  mm.pt.write(slot, 0n);
  const base = pg.pmdPfn(pmd);
  const zero = phys.isZeroPfn(base);
  const f = zero ? null : phys.folioOf(base);
  const slot0 = mm.pt.pteSlot(haddr, true)!;
  if (zero) {
    // __split_huge_zero_page_pmd(): one zero-page pte at a time
    for (let i = 0; i < 512; i++) {
      let pte = pg.pteMkspecial(pg.pfnPte(phys.zeroPfn, prot));
      if (pg.pteUffdWp(pmd)) pte = pg.pteMkuffdWp(pte);
      mm.arch.setPteAt(slot0 + i * 8, pte);
    }
    return;
  }
  let pte = pg.pfnPte(base, prot);
  if (pg.pteWrite(pmd)) pte = pg.pteMkwrite(pte);
  if (!pg.pteYoung(pmd)) pte = pg.pteMkold(pte);
  // "NOTE: this may set soft-dirty too on some archs"
  if (pg.pteDirty(pmd)) pte = pg.pteMkdirty(pte);
  if (pg.pteSoftDirty(pmd)) pte = pg.pteMksoftDirty(pte);
  if (pg.pteUffdWp(pmd)) pte = pg.pteMkuffdWp(pte);
  // set_ptes() of all 512: every aligned 64 KiB goes in contiguous
  mm.arch.setPtes(slot0, pte, 512);
  if (f) {
    f.addMapcount(f.pageIndex(base), 1, 512);
    f.pmdMapped--;
    if (pg.pteDirty(pmd)) f.dirty = true;
  }
}

// split_huge_pmd_if_needed(): a cut at addr inside a huge pmd the area holds whole splits the pmd first
export function splitHugePmdIfNeeded(mm: Mm, vma: Vma, addr: bigint): void {
  const haddr = addr & PMD_MASK;
  if (haddr !== addr && haddr >= vma.start && haddr + PMD_SIZE <= vma.end) splitHugePmd(mm, haddr);
}

/**
 * set_pmd_migration_entry() of a present huge pmd mapping the folio: a pmd
 * migration entry in its place, made as try_to_migrate_one() makes a pte's
 * (the head page's exclusivity decides); returns it.
 */
export function setPmdMigrationEntry(mm: Mm, slot: number, folio: Folio): Pmd {
  const pmdval = mm.pt.read(slot);
  // pmdp_invalidate()
  mm.pt.write(slot, mm.pg.pmdMkinvalid(pmdval));
  const pmdswp = migrationPte(mm, folio, 0, pmdval, mm.pg.swpEntryToPmd);
  mm.pt.write(slot, pmdswp);
  return pmdswp;
}

/**
 * remove_migration_pmd(): a huge pmd of the new folio in place of a pmd
 * migration entry, soft-dirty, writable and uffd-wp as the entry says, old
 * unless it says young, dirty where it and the folio say so; the folio
 * mapped by it, exclusively unless the entry was plain readable. Called
 * through sys.fn.
 */
export function removeMigrationPmd(mm: Mm, vma: Vma, slot: number, folio: Folio, old: Pmd): void {
  const pg = mm.pg;
  const e = pg.pmdToSwpEntry(old);
  let pmde = pg.pmdMkhuge(pg.pfnPte(folio.pfn, vma.pageProt));
  if (pg.pteSwpSoftDirty(old)) pmde = pg.pteMksoftDirty(pmde);
  if (pg.isWritableMigrationEntry(e)) pmde = pg.pteMkwrite(pmde);
  if (pg.pteSwpUffdWp(old)) pmde = pg.pteMkuffdWp(pmde);
  if (!pg.isMigrationEntryYoung(e)) pmde = pg.pteMkold(pmde);
  if (folio.dirty && pg.isMigrationEntryDirty(e)) pmde = pg.pteMkdirty(pmde);
  folio.pmdMapped++;
  if (folio.anon) folio.setExclusive(0, pg.swpType(e) !== SWP_MIGRATION_READ, folio.nrPages);
  mm.pt.write(slot, pmde);
}
