// Page migration as move_pages(2) drives it (mm/migrate.c): every mapping
// of a folio becomes a migration entry (try_to_migrate(), rmap.c), the
// folio's contents and flags go to a new folio on the target node, and the
// entries become ptes or a pmd of the new folio (remove_migration_ptes()),
// with soft-dirty, uffd-wp, young, dirty, write and exclusivity carried
// through the entry. Synchronous: no other call sees an entry in flight.

import type { Pte } from '../arm64/pgtable.ts';
import { SWP_MIGRATION_READ } from '../arm64/swapops.ts';
import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import { setPmdMigrationEntry } from './huge-memory.ts';
import type { Mm } from './mm.ts';
import type { Folio } from './physmem.ts';
import { type FolioMapping, migrationPte, rmapWalk } from './rmap.ts';
import { Inode } from './shmem.ts';
import type { System } from './system.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

/** What move_pages(2) returns: the pages not migrated, and a node or negated errno per page. */
export interface MovePages {
  readonly ret: number;
  readonly status: readonly number[];
}

// kernel_move_pages() of the calling process (pid 0), which may use MPOL_MF_MOVE_ALL (root: CAP_SYS_NICE)
export function kernelMovePages(mm: Mm, addrs: readonly bigint[], nodes: readonly number[] | null, flags: number): Ret<MovePages> {
  if (flags & ~(U.MPOL_MF_MOVE | U.MPOL_MF_MOVE_ALL)) return new Errno('EINVAL', 'move_pages');
  if (nodes === null) return { ret: 0, status: addrs.map((a) => pageStat(mm, a)) };
  return doPagesMove(mm, addrs, nodes, (flags & U.MPOL_MF_MOVE_ALL) !== 0);
}

/** The folio mapped at addr as folio_walk_start(FW_ZEROPAGE) finds it: the zero page, a folio and its page's index, or nothing. */
type Walked = 'zero' | { readonly folio: Folio; readonly index: number } | null;

// folio_walk_start(FW_ZEROPAGE): a present huge pmd or pte, and the folio behind it
function folioWalk(mm: Mm, addr: bigint): Walked {
  const pg = mm.pg;
  const phys = mm.sys.phys;
  const pmdSlot = mm.pt.pmdSlot(addr, false);
  const pmd = pmdSlot === null ? 0n : mm.pt.read(pmdSlot);
  let pfn: bigint;
  if (pmd !== 0n && !mm.pt.pmdIsTable(pmd)) {
    if (!pg.pmdPresent(pmd)) return null;
    pfn = pg.pmdPfn(pmd) + ((addr >> 12n) & 511n);
  } else {
    const slot = mm.pt.pteSlot(addr, false);
    const pte = slot === null ? 0n : mm.pt.read(slot);
    if (pte === 0n || !pg.ptePresent(pte)) return null;
    pfn = pg.ptePfn(pte);
    if (pg.pteSpecial(pte) && !phys.isZeroPfn(pfn)) return null; // vm_normal_page(): no folio behind a pfn map
  }
  if (phys.isZeroPfn(pfn)) return 'zero';
  const folio = phys.folioOf(pfn);
  return folio === null ? null : { folio, index: folio.pageIndex(pfn) };
}

// do_pages_stat_array() for one page: its node, or why there is none
function pageStat(mm: Mm, addr: bigint): number {
  if (mm.vmas.lookup(addr) === null) return -U.ERRNO.EFAULT;
  const w = folioWalk(mm, addr);
  if (w === null) return -U.ERRNO.ENOENT;
  if (w === 'zero') return -U.ERRNO.EFAULT;
  return mm.sys.phys.nidOf(w.folio.pfn);
}

// vma_migratable(): not an I/O or pfn map
function vmaMigratable(vma: Vma): boolean {
  return (vma.flags & V.VM_PFNMAP) === 0;
}

// folio_maybe_mapped_shared(): another process may map it (a page mapped more than once)
function folioMaybeMappedShared(folio: Folio): boolean {
  if (folio.nrPages === 1) return folio.mapcountOf(0) + folio.pmdMapped > 1;
  for (let i = 0; i < folio.nrPages; i++) if (folio.mapcountOf(i) + folio.pmdMapped > 1) return true;
  return false;
}

/** A folio queued for migration, with the page and address it was asked for by. */
interface Queued {
  readonly folio: Folio;
  readonly addr: bigint;
  readonly index: number;
  /** the folio's first page's linear index (folio->index of an anonymous folio): vm_pgoff of the area it was found in, plus its offset there */
  readonly linear: bigint;
}

/**
 * add_folio_for_migration() with __add_folio_for_migration(): 1 with the
 * folio queued, 0 where it is on the node already, or a negated errno.
 */
function addFolioForMigration(mm: Mm, addr: bigint, node: number, list: Queued[], migrateAll: boolean): number {
  const vma = mm.vmas.lookup(addr);
  if (vma === null || !vmaMigratable(vma)) return -U.ERRNO.EFAULT;
  const w = folioWalk(mm, addr);
  if (w === null) return -U.ERRNO.ENOENT;
  if (w === 'zero') return -U.ERRNO.EFAULT;
  const { folio } = w;
  if (mm.sys.phys.nidOf(folio.pfn) === node) return 0;
  if (folioMaybeMappedShared(folio) && !migrateAll) return -U.ERRNO.EACCES;
  // folio_isolate_lru(): a folio isolated once already is busy
  if (list.some((q) => q.folio.same(folio))) return -U.ERRNO.EBUSY;
  list.push({ folio, addr, index: w.index, linear: vma.pageIndex(addr) - BigInt(w.index) });
  return 1;
}

// do_pages_move(): runs of pages bound for one node, each migrated as the run ends
function doPagesMove(mm: Mm, addrs: readonly bigint[], nodes: readonly number[], migrateAll: boolean): Ret<MovePages> {
  const status = addrs.map(() => 0);
  const nrNodes = mm.sys.cfg.numaNodes ?? 1;
  let list: Queued[] = [];
  let current = -1;
  let start = 0;
  // move_pages_and_store_status(): the run migrated (the model's migrations never fail), its pages' status the node
  const flush = (end: number) => {
    for (const q of list) migrateFolio(mm.sys, q, current);
    if (list.length) status.fill(current, start, end);
    list = [];
  };
  for (let i = 0; i < addrs.length; i++) {
    const node = nodes[i]!;
    // past MAX_NUMNODES, or a node without memory: ENODEV alike
    if (node < 0 || node >= nrNodes) {
      flush(i);
      return new Errno('ENODEV', 'move_pages');
    }
    if (current === -1) {
      current = node;
      start = i;
    } else if (node !== current) {
      flush(i);
      start = i;
      current = node;
    }
    const err = addFolioForMigration(mm, addrs[i]!, current, list, migrateAll);
    if (err > 0) continue;
    status[i] = err || current;
    flush(i);
    current = -1;
  }
  flush(addrs.length);
  return { ret: 0, status };
}

/**
 * migrate_pages() of one folio to node: unmapped everywhere it is mapped,
 * copied with its flags to a new folio there (which takes its place in the
 * page cache), and the new one mapped back where the old one was.
 */
function migrateFolio(sys: System, { folio, linear }: Queued, node: number): void {
  const phys = sys.phys;
  const maps = rmapWalk(sys, folio, linear);
  // try_to_migrate(): the entries each mapping leaves, in the order they are walked
  const entries = maps.map((m) => ({ m, old: tryToMigrate(m, folio) }));
  folio.clearMapcounts();
  folio.pmdMapped = 0;
  // migrate_folio(): folio_migrate_mapping(), folio_migrate_flags() and the copy
  if (folio.hugetlb) sys.hugetlb.migrate(phys.nidOf(folio.pfn), node);
  const dst = phys.alloc(folio.order, folio.anon, folio.mapping, folio.index, node);
  dst.dirty = folio.dirty;
  dst.referenced = folio.referenced;
  dst.swapbacked = folio.swapbacked;
  dst.hugetlb = folio.hugetlb;
  for (let i = 0; i < folio.nrPages; i++) if (phys.hasData(folio.pfn + BigInt(i))) phys.copyPage(dst.pfn + BigInt(i), folio.pfn + BigInt(i));
  const mapping = folio.mapping;
  // hugetlbfs indexes its cache in huge pages
  if (mapping instanceof Inode) for (let i = 0; i < (folio.hugetlb ? 1 : folio.nrPages); i++) mapping.pages.set(folio.index + BigInt(i), dst);
  phys.free(folio);
  // remove_migration_ptes()
  for (const { m, old } of entries) {
    if (m.pmdSlot !== null) {
      // a hugetlb block (remove_migration_pte()'s hugetlb branch, then arch_make_huge_pte()) comes out the same
      sys.fn.removeMigrationPmd(m.mm, m.vma, m.pmdSlot, dst, old[0]!);
      continue;
    }
    m.ptes.forEach(([i, slot], k) => {
      const pte = sys.fn.removeMigrationPte(m.mm, m.vma, dst, i, old[k]!);
      m.mm.arch.setPteAt(slot, pte);
      dst.addMapcount(i, 1);
      // RMAP_EXCLUSIVE unless the entry was a plain readable one
      if (dst.anon) dst.setExclusive(i, m.mm.pg.swpType(m.mm.pg.pteToSwpEntry(old[k]!)) !== SWP_MIGRATION_READ);
    });
  }
}

// try_to_migrate_one() for one area: its pmd (set_pmd_migration_entry(), or a hugetlb block's entry, which is the same) or each pte
function tryToMigrate(m: FolioMapping, folio: Folio): Pte[] {
  if (m.pmdSlot !== null) return [setPmdMigrationEntry(m.mm, m.pmdSlot, folio)];
  return m.ptes.map(([i, slot]) => {
    // ptep_clear_flush(): a contiguous block unfolds, its young and dirty bits shared out first
    const swp = migrationPte(m.mm, folio, i, m.mm.arch.ptepGetAndClear(slot));
    m.mm.arch.setPteAt(slot, swp);
    return swp;
  });
}

/**
 * remove_migration_pte(): the pte of the new folio's page i in place of a
 * migration entry: old unless the entry says young, dirty where it and the
 * folio say so, soft-dirty as the entry is, writable as it was, uffd-wp
 * kept where not writable. Called through sys.fn.
 */
export function removeMigrationPte(mm: Mm, vma: Vma, folio: Folio, i: number, old: Pte): Pte {
  const pg = mm.pg;
  const e = pg.pteToSwpEntry(old);
  let pte = pg.pfnPte(folio.pfn + BigInt(i), vma.pageProt);
  if (!pg.isMigrationEntryYoung(e)) pte = pg.pteMkold(pte);
  if (folio.dirty && pg.isMigrationEntryDirty(e)) pte = pg.pteMkdirty(pte);
  pte = pg.pteSwpSoftDirty(old) ? pg.pteMksoftDirty(pte) : pg.pteClearSoftDirty(pte);
  if (pg.isWritableMigrationEntry(e)) pte = pg.pteMkwrite(pte);
  else if (pg.pteSwpUffdWp(old)) pte = pg.pteMkuffdWp(pte);
  return pte;
}
