// split_folio() of an anonymous THP (mm/huge_memory.c __folio_split()):
// every mapping becomes a migration entry (try_to_migrate_one(), or the
// frozen pmd split), the folio splits into pages, and remove_migration_pte()
// maps them back. Since v6.12 a zero-filled page comes back as the shared
// zero page instead (try_to_map_unused_to_zeropage()).

import type { Pte } from '../arm64/pgtable.ts';
import { SWP_MIGRATION_READ } from '../arm64/swapops.ts';
import type { Mm } from './mm.ts';
import { type Folio, PAGE_SIZE } from './physmem.ts';
import { migrationPte } from './rmap.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** The folio, mapped by this mm linearly from base, is split; returns its pages. */
export function splitAnonFolio(mm: Mm, vma: Vma, base: bigint, folio: Folio): Folio[] {
  const pg = mm.pg;
  const frozen = new Map<number, Pte>();

  if (folio.pmdMapped) {
    const slot = mm.pt.pmdSlot(base, false)!;
    const pmd = mm.pt.read(slot);
    mm.pt.write(slot, 0n);
    for (let i = 0; i < folio.nrPages; i++) frozen.set(i, migrationPte(mm, folio, i, pmd));
  } else {
    for (let i = 0; i < folio.nrPages; i++) {
      const slot = mm.pt.pteSlot(base + BigInt(i) * PAGE, false);
      const pte = slot === null ? 0n : mm.pt.read(slot);
      // try_to_migrate_one(): ptep_clear_flush() unfolds a contiguous block, its young and dirty bits shared out first
      if (pte !== 0n && pg.ptePresent(pte) && pg.ptePfn(pte) === folio.pfn + BigInt(i)) frozen.set(i, migrationPte(mm, folio, i, mm.arch.ptepGetAndClear(slot!)));
    }
  }
  folio.pmdMapped = 0;
  folio.clearMapcounts();
  const parts = mm.sys.phys.splitFolio(folio);

  for (const [i, old] of frozen) {
    const part = parts[i]!;
    const slot = mm.pt.pteSlot(base + BigInt(i) * PAGE, true)!;
    if (mm.sys.phys.isZeroFilled(part.pfn)) {
      // try_to_map_unused_to_zeropage()
      let pte = pg.pteMkspecial(pg.pfnPte(mm.sys.phys.zeroPfn, vma.pageProt));
      if (pg.pteSwpSoftDirty(old)) pte = pg.pteMksoftDirty(pte);
      if (pg.pteSwpUffdWp(old)) pte = pg.pteMkuffdWp(pte);
      mm.arch.setPteAt(slot, pte);
      continue;
    }
    mm.arch.setPteAt(slot, mm.sys.fn.removeMigrationPte(mm, vma, part, 0, old));
    part.setMapcount(0, 1);
    // RMAP_EXCLUSIVE unless the entry was a plain readable one
    part.setExclusive(0, pg.swpType(pg.pteToSwpEntry(old)) !== SWP_MIGRATION_READ);
  }
  // pages nobody maps any more go back to the allocator
  for (const part of parts) if (!part.mapped()) mm.sys.phys.free(part);
  return parts;
}
