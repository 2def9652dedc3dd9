// GUP as MADV_POPULATE_* and mmap(MAP_POPULATE) drive it (mm/gup.c): follow
// the page tables to the page, fault it in when it is not there with the
// access asked for, and touch it (FOLL_TOUCH). Ptes are followed on their
// table's words (arm64/pte-words.ts), so populating a page makes no bigint.

import { AttrQuestion, pfnOfWords, wordAt } from '../arm64/pte-words.ts';
import { FAULT_FLAG_WRITE, handleMmFault, type VmFault } from './fault.ts';
import { keptFor } from './internal.ts';
import type { Mm } from './mm.ts';
import { PMD_SIZE } from './pgtables.ts';
import { folioMarkAccessed } from './swap.ts';
import type { Vma } from './vma.ts';

/** faults in a row that change nothing before the model gives up on a page (the kernel would retry forever) */
const MAX_FAULTS = 4;

// follow_page_pte()'s tests of a pte: present, not a NUMA hint (FOLL_HONOR_NUMA_FAULT), and for FOLL_WRITE
// writable (can_follow_write_pte()); and vm_normal_page()'s: not special
const makeFollow = (mm: Mm) => ({
  read: new AttrQuestion((p) => mm.pg.ptePresent(p) && !mm.pg.pteProtnone(p)),
  write: new AttrQuestion((p) => mm.pg.ptePresent(p) && !mm.pg.pteProtnone(p) && mm.pg.pteWrite(p)),
  special: new AttrQuestion((p) => mm.pg.pteSpecial(p)),
});

/**
 * follow_page_mask() with FOLL_TOUCH: __get_user_pages()'s page_increm when
 * addr maps a page the access may use, 0 when a fault must bring it in. A
 * pte's folio is marked accessed (and dirty for a write: follow_page_pte());
 * a huge pmd is made young (and dirty) itself (touch_pmd()), and its follow
 * sets page_mask, so the walk steps to the end of the huge page at once.
 */
export function followPageMask(mm: Mm, addr: bigint, write: boolean): number {
  const slot = mm.pt.pteSlot(addr, false);
  if (slot === null) return followHugePmd(mm, addr, write);
  const w = mm.pt.pteTableWords(slot);
  const at = wordAt(slot);
  const lo = w[at]!;
  const hi = w[at + 1]!;
  const follow = keptFor(mm, makeFollow);
  if (!(write ? follow.write : follow.read).of(lo, hi)) return 0;
  const f = follow.special.of(lo, hi) ? null : mm.sys.phys.folioAt(pfnOfWords(lo, hi));
  if (f) {
    if (write && !mm.arch.dirty.of(lo, hi)) f.dirty = true;
    folioMarkAccessed(f);
  }
  return 1;
}

// follow_huge_pmd(), for a pmd with no pte table under it
function followHugePmd(mm: Mm, addr: bigint, write: boolean): number {
  const pg = mm.pg;
  const slot = mm.pt.pmdSlot(addr, false);
  const pmd = slot === null ? 0n : mm.pt.read(slot);
  if (pmd === 0n || !pg.pmdPresent(pmd) || pg.pteProtnone(pmd) || (write && !pg.pteWrite(pmd))) return 0;
  // touch_pmd(): arm64's pmd_trans_huge() holds for any present block, a hugetlb page's too (checked in 7.2)
  let entry = pg.pteMkyoung(pmd);
  if (write) entry = pg.pteMkdirty(entry);
  mm.pt.write(slot!, pg.ptepSetAccessFlags(pmd, entry));
  // page_increm = 1 + (~(start >> PAGE_SHIFT) & (HPAGE_PMD_NR - 1))
  return Number(((addr | (PMD_SIZE - 1n)) + 1n - addr) >> 12n);
}

/**
 * __get_user_pages() for the page at addr: follow_page_mask(), and while it
 * finds no page, faultin_page() (handle_mm_fault()) and `goto retry`.
 * Returns page_increm, or the fault that stopped it.
 */
export function getUserPage(mm: Mm, vma: Vma, addr: bigint, write: boolean): number | Exclude<VmFault, 0> {
  for (let faults = 0; ; faults++) {
    const increm = followPageMask(mm, addr, write);
    if (increm > 0) return increm;
    if (faults === MAX_FAULTS) return 1;
    const r = handleMmFault(mm, vma, addr, write ? FAULT_FLAG_WRITE : 0);
    if (r !== 0) return r;
  }
}
