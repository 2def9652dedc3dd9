// /proc/PID/pagemap: one 64-bit entry per page (fs/proc/task_mmu.c
// pagemap_pte_hole(), pte_to_pagemap_entry(), pagemap_pmd_range_thp()).

import * as U from '../../uapi/linux.ts';
import type { Mm } from '../mm/mm.ts';
import { isGuardMarkerEntry, MAX_SWAPFILES_SHIFT } from '../arm64/swapops.ts';
import { PMD_MASK, PMD_SIZE } from '../mm/pgtables.ts';
import { VM_HUGETLB, VM_SOFTDIRTY, type Vma } from '../mm/vma.ts';

const PAGE = 4096n;

/**
 * The entries for nPages pages from addr, as pread() of the file returns
 * them: walk_page_range() with pagemap_ops, a page table's entries read
 * one by one, the gaps between areas and the ranges with no page table
 * handed to pagemap_pte_hole().
 */
export function pagemapRead(mm: Mm, addr: bigint, nPages: number): BigUint64Array {
  const out = new BigUint64Array(nPages);
  const start = addr & ~(PAGE - 1n);
  const end = start + BigInt(nPages) * PAGE;
  const put = (a: bigint, pme: bigint) => {
    out[Number((a - start) >> 12n)] = pme;
  };
  const hole = mm.sys.fn.pagemapPteHole;
  let at = start;
  for (const vma of mm.vmas.overlapping(start, end)) {
    if (at < vma.start) hole(mm, at, vma.start, put);
    at = vma.end < end ? vma.end : end;
    // walk_pmd_range(): a none pmd is a hole; a table's ptes, or a huge pmd's pages, are entries
    for (let a = vma.start > start ? vma.start : start; a < at; ) {
      const stop = (a & PMD_MASK) + PMD_SIZE < at ? (a & PMD_MASK) + PMD_SIZE : at;
      if (mm.pt.pmdVal(a) === 0n) hole(mm, a, stop, put);
      else mm.pt.forEachPage(a, stop, (x, val, huge) => put(x, pagemapEntryOf(mm, vma, x, val, huge)));
      a = stop;
    }
  }
  if (at < end) hole(mm, at, end, put);
  return out;
}

/**
 * pagemap_pte_hole(): [start, end) has no page table: a page outside any
 * area reads as 0, one inside as its area's VM_SOFTDIRTY. Called through
 * sys.fn (B1's and B2's fixes are here).
 */
export function pagemapPteHole(mm: Mm, start: bigint, end: bigint, put: (addr: bigint, pme: bigint) => void): void {
  let addr = start;
  while (addr < end) {
    const vma = mm.vmas.find(addr);
    const holeEnd = vma && vma.start < end ? vma.start : end;
    for (; addr < holeEnd; addr += PAGE) put(addr, 0n);
    if (!vma) break;
    const pme = vma.flags & VM_SOFTDIRTY ? U.PM_SOFT_DIRTY : 0n;
    for (; addr < (vma.end < end ? vma.end : end); addr += PAGE) put(addr, pme);
  }
}

/** One page's entry. */
export function pagemapEntry(mm: Mm, addr: bigint): bigint {
  return pagemapRead(mm, addr, 1)[0]!;
}

// pte_to_pagemap_entry(), pagemap_pmd_range_thp(), pagemap_hugetlb_range(), pagemap_pte_hole() for one page
function pagemapEntryOf(mm: Mm, vma: Vma, addr: bigint, val: bigint, huge: boolean): bigint {
  const pg = mm.pg;
  const showPfn = mm.sys.cfg.showPfn;
  let flags = vma.flags & VM_SOFTDIRTY ? U.PM_SOFT_DIRTY : 0n;
  let frame = 0n;
  if (val === 0n) return flags;
  let folio = null;
  let pfn = 0n;
  if (huge) {
    // the page's own pfn inside the huge page
    if (!pg.pmdPresent(val)) {
      // pagemap_hugetlb_range(): a hugetlb uffd-wp marker reads as uffd-wp only, not swapped (measured)
      if (vma.flags & VM_HUGETLB) return pg.pteSwpUffdWpAny(val) ? flags | U.PM_UFFD_WP : flags;
      return flags | U.PM_SWAP; // pmd migration entries are not made yet
    }
    pfn = pg.pmdPfn(val) + ((addr >> 12n) & 511n);
    flags |= U.PM_PRESENT;
    // pagemap_hugetlb_range(): a hugetlb page is soft-dirty only through its area's VM_SOFTDIRTY
    if (pg.pteSoftDirty(val) && !(vma.flags & VM_HUGETLB)) flags |= U.PM_SOFT_DIRTY;
    if (pg.pteUffdWp(val)) flags |= U.PM_UFFD_WP;
    if (showPfn) frame = pfn;
    folio = mm.sys.phys.folioOf(pg.pmdPfn(val)); // pmd_page(): not vm_normal_page()
    // the huge zero folio is pmd_page() too: not anonymous, so PM_FILE, and never rmapped, so not exclusive
    if (mm.sys.phys.isZeroPfn(pg.pmdPfn(val))) flags |= U.PM_FILE;
  } else if (pg.ptePresent(val)) {
    pfn = pg.ptePfn(val);
    flags |= U.PM_PRESENT;
    if (showPfn) frame = pfn;
    folio = mm.vmNormalFolio(val);
    if (pg.pteSoftDirty(val)) flags |= U.PM_SOFT_DIRTY;
    if (pg.pteUffdWp(val)) flags |= U.PM_UFFD_WP;
  } else {
    // swap-format entries, markers included, read as swapped
    if (pg.pteSwpSoftDirty(val)) flags |= U.PM_SOFT_DIRTY;
    if (pg.pteSwpUffdWp(val)) flags |= U.PM_UFFD_WP;
    const e = pg.pteToSwpEntry(val);
    if (showPfn) frame = BigInt(pg.swpType(e)) | (pg.swpOffset(e) << BigInt(MAX_SWAPFILES_SHIFT));
    flags |= U.PM_SWAP;
    if (pg.pteMarkerUffdWp(val)) flags |= U.PM_UFFD_WP;
    if (isGuardMarkerEntry(e)) flags |= U.PM_GUARD_REGION;
  }
  if (folio) {
    if (!folio.anon) flags |= U.PM_FILE;
    // __folio_page_mapped_exclusively()
    if (flags & U.PM_PRESENT && folio.pageMapcount(pfn) === 1) flags |= U.PM_MMAP_EXCLUSIVE;
  }
  return (frame & U.PM_PFRAME_MASK) | flags;
}
