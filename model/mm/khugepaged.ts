// MADV_COLLAPSE of shmem (mm/khugepaged.c: madvise_collapse(),
// collapse_file(), retract_page_tables(), try_collapse_pte_mapped_thp()):
// each PMD-sized, PMD-aligned run of a file's small pages is copied into one
// huge folio that takes their place in the page cache; the small pages leave
// every mapping, the page tables left empty go, and the calling area maps
// the folio by pmd. An area registered for uffd-wp keeps its pte table and
// the markers its protected ptes leave, and the call fails (EINVAL). What the model does not have yet fails loudly: the
// collapse of anonymous memory, and holes or swapped-out pages in a run.

import { Errno } from '../../uapi/linux.ts';
import { zapRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { HPAGE_PMD_ORDER, type Folio, PAGE_SIZE } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import type { Inode } from './shmem.ts';
import type { System } from './system.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);
const HPAGE_PMD_NR = 512n;

// thp_vma_suitable_order(): the huge page at haddr lies inside the area, and the file offset agrees with the address
function suitable(vma: Vma, haddr: bigint): boolean {
  return haddr >= vma.start && haddr + PMD_SIZE <= vma.end && ((vma.start >> 12n) - vma.pgoff) % HPAGE_PMD_NR === 0n;
}

/**
 * madvise_collapse() over [start, end) of one area: every whole huge page
 * in it collapsed and mapped by pmd, or the error of the last that was not.
 */
export function madviseCollapse(mm: Mm, vma: Vma, start: bigint, end: bigint): Errno | null {
  // thp_vma_allowable_order(TVA_FORCED_COLLAPSE): no huge pages in hugetlb or special areas
  if (vma.flags & (V.VM_HUGETLB | V.VM_PFNMAP | V.VM_MIXEDMAP)) return new Errno('EINVAL', 'madvise');
  if (vma.isAnonymous || !(vma.flags & V.VM_SHARED)) throw new Error('madvise(MADV_COLLAPSE): collapsing anonymous or private memory is not modelled');
  const inode = vma.file!;
  let failed: Errno | null = null;
  for (let haddr = (start + PMD_SIZE - 1n) & PMD_MASK; haddr + PMD_SIZE <= end; haddr += PMD_SIZE) {
    if (!suitable(vma, haddr)) {
      failed = new Errno('EINVAL', 'madvise');
      continue;
    }
    const folio = collapseFile(mm.sys, inode, vma.pageIndex(haddr));
    // SCAN_PTE_UFFD_WP, one of the results madvise_collapse() goes on after, is EINVAL at the end
    if (tryCollapsePteMappedThp(mm, vma, haddr, folio) === 'SCAN_PTE_UFFD_WP') failed = new Errno('EINVAL', 'madvise');
  }
  return failed;
}

/**
 * collapse_file(): the huge folio at index (already there, or made of the
 * 512 small pages it replaces in the page cache, which leave every mapping
 * first), with retract_page_tables() of what those mappings leave empty.
 */
function collapseFile(sys: System, inode: Inode, index: bigint): Folio {
  const head = inode.pages.get(index);
  if (head && head.order === HPAGE_PMD_ORDER && head.index === index) return head; // SCAN_PTE_MAPPED_HUGEPAGE
  const small: Folio[] = [];
  for (let i = 0n; i < HPAGE_PMD_NR; i++) {
    const f = inode.pages.get(index + i);
    if (!f || inode.swapped.has(index + i)) throw new Error('madvise(MADV_COLLAPSE): a run with holes or swapped-out pages is not modelled');
    small.push(f);
  }
  for (const mm of sys.mms) {
    for (const v of [...mm.vmas.all()]) {
      if (v.file !== inode || v.pageIndex(v.end) <= index || v.pgoff >= index + HPAGE_PMD_NR) continue;
      const lo = v.pgoff > index ? v.start : v.start + (index - v.pgoff) * PAGE;
      const hi = v.pageIndex(v.end) < index + HPAGE_PMD_NR ? v.end : v.start + (index + HPAGE_PMD_NR - v.pgoff) * PAGE;
      // try_to_unmap() of the small pages: a uffd-wp pte of an area registered for it leaves a marker (pte_install_uffd_wp_if_needed())
      zapRange(mm, lo, hi, false);
      retractPageTable(mm, v, lo);
    }
  }
  const folio = sys.phys.alloc(HPAGE_PMD_ORDER, false, inode, index);
  small.forEach((f, i) => {
    if (sys.phys.hasData(f.pfn)) sys.phys.copyPage(folio.pfn + BigInt(i), f.pfn);
    inode.pages.set(index + BigInt(i), folio);
    sys.phys.free(f);
  });
  folio.dirty = true;
  return folio;
}

// file_backed_vma_is_retractable(): no anon_vma (a written private area), no uffd-wp (its markers live in the pte table), no guards. Called through sys.fn.
export function fileBackedVmaIsRetractable(vma: Vma): boolean {
  return vma.anonVma === null && !(vma.flags & (V.VM_UFFD_WP | V.VM_MAYBE_GUARD));
}

// retract_page_tables() for one area: the pte table the huge page's range covers whole goes, whatever it holds (the
// unmap has emptied it, but for what a retractable area cannot have)
function retractPageTable(mm: Mm, vma: Vma, addr: bigint): void {
  const haddr = addr & PMD_MASK;
  if (!suitable(vma, haddr) || !mm.sys.fn.fileBackedVmaIsRetractable(vma)) return;
  const pmdSlot = mm.pt.pmdSlot(haddr, false);
  if (pmdSlot !== null && mm.pt.pmdIsTable(mm.pt.read(pmdSlot))) mm.pt.freePteTable(pmdSlot);
}

// pmd_clear() and pte_free() of an empty pte table under haddr
function freeEmptyPteTable(mm: Mm, haddr: bigint): void {
  const pmdSlot = mm.pt.pmdSlot(haddr, false);
  if (pmdSlot === null || !mm.pt.pmdIsTable(mm.pt.read(pmdSlot))) return;
  const first = mm.pt.pteSlot(haddr, false)!;
  for (let i = 0; i < Number(HPAGE_PMD_NR); i++) if (mm.pt.read(first + i * 8) !== 0n) return;
  mm.pt.freePteTable(pmdSlot);
}

/**
 * try_collapse_pte_mapped_thp(install_pmd) -> set_huge_pmd(): the calling
 * area maps the folio by a read-only pmd (do_set_pmd() of a read fault)
 * where its pte table is gone or empty; an area registered for uffd-wp
 * keeps its pte table, and its markers (SCAN_PTE_UFFD_WP).
 */
function tryCollapsePteMappedThp(mm: Mm, vma: Vma, haddr: bigint, folio: Folio): 'SCAN_PTE_UFFD_WP' | null {
  // userfaultfd_wp()
  if (vma.flags & V.VM_UFFD_WP) return 'SCAN_PTE_UFFD_WP';
  freeEmptyPteTable(mm, haddr);
  const pmdSlot = mm.pt.pmdSlot(haddr, true)!;
  if (mm.pt.read(pmdSlot) !== 0n) return null;
  mm.pt.write(pmdSlot, mm.pg.pmdMkhuge(mm.pg.pfnPte(folio.pfn, vma.pageProt)));
  folio.pmdMapped++;
  return null;
}
