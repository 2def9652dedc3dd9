// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (fs/proc/task_mmu.c
// do_pagemap_scan()): page categories, matched and merged into regions.
// Write-protecting (PM_SCAN_WP_MATCHING) needs uffd-wp async, which areas
// here never have, so such areas are skipped as the kernel skips them.

import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import type { Mm } from '../mm/mm.ts';
import { VM_HUGETLB, VM_PFNMAP, VM_SOFTDIRTY, VM_UFFD_WP, type Vma } from '../mm/vma.ts';

const PAGE = 4096n;
const TASK_SIZE = 1n << 48n;

export interface ScanArg {
  start: bigint;
  end: bigint;
  flags: number;
  maxPages: bigint;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
  vecLen: number;
  badVec: boolean;
}

export interface ScanRegion {
  start: bigint;
  end: bigint;
  categories: number;
}

export interface ScanResult {
  ret: number;
  regions: ScanRegion[];
  walkEnd: bigint;
}

/** PM_SCAN_CATEGORIES of the kernel modelled */
function scanCategories(mm: Mm): number {
  const base = U.PAGE_IS_WPALLOWED | U.PAGE_IS_WRITTEN | U.PAGE_IS_FILE | U.PAGE_IS_PRESENT | U.PAGE_IS_SWAPPED | U.PAGE_IS_PFNZERO | U.PAGE_IS_HUGE;
  return mm.sys.cfg.kernel.pagemapScanSoftDirty ? base | U.PAGE_IS_SOFT_DIRTY | U.PAGE_IS_GUARD : base;
}

// pagemap_scan_get_args()
function checkArgs(mm: Mm, a: ScanArg): Errno | null {
  if (a.flags & ~(U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC)) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if ((a.categoryInverted | a.categoryMask | a.categoryAnyofMask | a.returnMask) & ~scanCategories(mm)) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if (a.start & (PAGE - 1n)) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if (a.end < a.start || a.end > TASK_SIZE) return new Errno('EFAULT', 'PAGEMAP_SCAN');
  if (a.badVec) return new Errno('EFAULT', 'PAGEMAP_SCAN');
  return null;
}

// pagemap_scan_is_interesting_page()
function interesting(categories: number, a: ScanArg): boolean {
  const c = categories ^ a.categoryInverted;
  if ((c & a.categoryMask) !== a.categoryMask) return false;
  return !(a.categoryAnyofMask && !(c & a.categoryAnyofMask));
}

// pagemap_page_category() / pagemap_thp_category() for the page at addr
function pageCategories(mm: Mm, vma: Vma, addr: bigint): number | null {
  const pg = mm.pg;
  const { level, val } = mm.leaf(addr);
  if (level === 2) {
    let c = U.PAGE_IS_HUGE;
    if (pg.pmdPresent(val)) {
      c |= U.PAGE_IS_PRESENT;
      if (!pg.pteUffdWp(val)) c |= U.PAGE_IS_WRITTEN;
      // pagemap_hugetlb_category(): a shared hugetlb page is a file page
      if (vma.flags & VM_HUGETLB && !mm.sys.phys.folioOf(pg.pmdPfn(val))?.anon) c |= U.PAGE_IS_FILE;
      if (mm.sys.phys.isZeroPfn(pg.pmdPfn(val))) c |= U.PAGE_IS_PFNZERO;
      if (pg.pteSoftDirty(val)) c |= U.PAGE_IS_SOFT_DIRTY;
    }
    return c;
  }
  const slot = mm.pt.pteSlot(addr, false);
  if (slot === null) return null; // no page table: pagemap_scan_pte_hole()
  if (pg.pteNone(val)) return U.PAGE_IS_WRITTEN;
  if (pg.ptePresent(val)) {
    let c = U.PAGE_IS_PRESENT;
    if (!pg.pteUffdWp(val)) c |= U.PAGE_IS_WRITTEN;
    const f = mm.vmNormalFolio(val);
    if (f && !f.anon) c |= U.PAGE_IS_FILE;
    if (mm.sys.phys.isZeroPfn(pg.ptePfn(val))) c |= U.PAGE_IS_PFNZERO;
    if (pg.pteSoftDirty(val)) c |= U.PAGE_IS_SOFT_DIRTY;
    return c;
  }
  let c = U.PAGE_IS_SWAPPED;
  if (!pg.pteSwpUffdWpAny(val)) c |= U.PAGE_IS_WRITTEN;
  if (pg.pteSwpSoftDirty(val)) c |= U.PAGE_IS_SOFT_DIRTY;
  return c;
}

export function pagemapScan(mm: Mm, a: ScanArg): Ret<ScanResult> {
  const err = checkArgs(mm, a);
  if (err) return err;
  const end = (a.end + PAGE - 1n) & ~(PAGE - 1n);
  const maxPages = a.maxPages === 0n ? (1n << 64n) - 1n : a.maxPages;
  const regions: ScanRegion[] = [];
  let found = 0n;
  let walkEnd = 0n;

  // pagemap_scan_output() + pagemap_scan_push_range(): false when full (ENOSPC)
  const output = (categories: number, from: bigint, to: bigint): boolean => {
    if (a.vecLen === 0) return true;
    categories &= a.returnMask;
    let n = (to - from) / PAGE;
    let full = false;
    if (found + n > maxPages) {
      to -= (found + n - maxPages) * PAGE;
      n = maxPages - found;
      full = true;
    }
    const last = regions.at(-1);
    if (last && last.end === from && last.categories === categories) last.end = to;
    else if (to > from) {
      if (regions.length >= a.vecLen) {
        walkEnd = from;
        return false;
      }
      regions.push({ start: from, end: to, categories });
    }
    found += n;
    if (full) walkEnd = to;
    return !full;
  };

  walk: for (const vma of mm.vmas.overlapping(a.start, end)) {
    // pagemap_scan_test_walk()
    const wpAllowed = mm.uffdWpAsync(vma) && mm.uffdWpUseMarkers(vma);
    if (!wpAllowed && a.flags & U.PM_SCAN_CHECK_WPASYNC) return new Errno('EPERM', 'PAGEMAP_SCAN');
    if (a.flags & U.PM_SCAN_WP_MATCHING) {
      if (!wpAllowed) continue;
      throw new Error('PAGEMAP_SCAN: write-protecting with PM_SCAN_WP_MATCHING is not modelled yet');
    }
    if (vma.flags & VM_PFNMAP) continue;
    const vmaCategory = (wpAllowed ? U.PAGE_IS_WPALLOWED : 0) | (vma.flags & VM_SOFTDIRTY ? U.PAGE_IS_SOFT_DIRTY : 0);
    if ((vmaCategory ^ a.categoryInverted) & a.categoryMask & U.PAGE_IS_WPALLOWED) continue;
    const lo = vma.start > a.start ? vma.start : a.start;
    const hi = vma.end < end ? vma.end : end;
    for (let addr = lo; addr < hi; addr += PAGE) {
      const page = pageCategories(mm, vma, addr);
      const categories = page === null ? vmaCategory | (vma.flags & VM_UFFD_WP ? U.PAGE_IS_WRITTEN : 0) : vmaCategory | page;
      if (!interesting(categories, a)) continue;
      if (!output(categories, addr, addr + PAGE)) break walk;
    }
  }
  return { ret: regions.length, regions, walkEnd: walkEnd || end };
}
