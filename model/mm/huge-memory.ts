// PMD-mapped THP (mm/huge_memory.c): the split of a huge pmd into a pte
// table. The huge pmd faults are in fault.ts.

import type { Mm } from './mm.ts';
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
