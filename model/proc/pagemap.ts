// /proc/PID/pagemap: one 64-bit entry per page (fs/proc/task_mmu.c
// pagemap_pte_hole(), pte_to_pagemap_entry(), pagemap_pmd_range_thp()).

import * as U from '../../uapi/linux.ts';
import type { Mm } from '../mm/mm.ts';
import { isGuardMarkerEntry, MAX_SWAPFILES_SHIFT } from '../arm64/swapops.ts';
import { VM_HUGETLB, VM_SOFTDIRTY, type Vma } from '../mm/vma.ts';

const PAGE = 4096n;

/** The entries for nPages pages from addr, as pread() of the file returns them. */
export function pagemapRead(mm: Mm, addr: bigint, nPages: number): BigUint64Array {
  const out = new BigUint64Array(nPages); // holes outside any area read as 0
  const start = addr & ~(PAGE - 1n);
  const end = start + BigInt(nPages) * PAGE;
  for (const vma of mm.vmas.overlapping(start, end)) {
    const lo = vma.start > start ? vma.start : start;
    const hi = vma.end < end ? vma.end : end;
    mm.pt.forEachPage(lo, hi, (a, val, huge) => {
      out[Number((a - start) >> 12n)] = pagemapEntryOf(mm, vma, a, val, huge);
    });
  }
  return out;
}

export function pagemapEntry(mm: Mm, addr: bigint): bigint {
  const vma = mm.vmas.lookup(addr);
  if (!vma) return 0n;
  const { level, val } = mm.leaf(addr);
  return pagemapEntryOf(mm, vma, addr, val, level === 2);
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
