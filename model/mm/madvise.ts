// madvise() (mm/madvise.c): MADV_DONTNEED, MADV_PAGEOUT (reclaim in
// vmscan.ts), MADV_HUGEPAGE, MADV_NOHUGEPAGE and MADV_POPULATE_(READ|WRITE).

import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { faultinPage } from './fault.ts';
import { HPAGE_SIZE } from './hugetlb.ts';
import { zapRange } from './memory.ts';
import { pageAlign, pageAligned, type Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';
import { madvisePageout } from './vmscan.ts';

const PAGE = BigInt(PAGE_SIZE);

/** The errno of a result, named for the call that failed, or null. */
const errnoOf = (r: Ret<unknown>, call: string): Errno | null => (r instanceof Errno ? new Errno(r.name, call) : null);

// do_madvise()
export function doMadvise(mm: Mm, addr: bigint, len: bigint, advice: number): Ret<0> {
  const known = [U.MADV_NORMAL, U.MADV_DONTNEED, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_PAGEOUT, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE];
  if (!known.includes(advice)) return new Errno('EINVAL', 'madvise');
  if (!pageAligned(addr)) return new Errno('EINVAL', 'madvise');
  const end = addr + pageAlign(len);
  if (end < addr) return new Errno('EINVAL', 'madvise');
  if (end === addr) return 0;
  if (advice === U.MADV_POPULATE_READ || advice === U.MADV_POPULATE_WRITE)
    return madvisePopulate(mm, addr, end, advice === U.MADV_POPULATE_WRITE);
  // madvise_walk_vmas(): apply to each area; a hole means ENOMEM after the rest is done
  let hole = false;
  let cursor = addr;
  for (const v of mm.vmas.overlapping(addr, end)) {
    if (v.start > cursor) hole = true;
    const s = v.start > addr ? v.start : addr;
    const e = v.end < end ? v.end : end;
    const err = madviseVma(mm, v, s, e, advice);
    if (err) return err;
    cursor = e;
  }
  return hole || cursor < end ? new Errno('ENOMEM', 'madvise') : 0;
}

// madvise_vma_behavior()
function madviseVma(mm: Mm, v: Vma, start: bigint, end: bigint, advice: number): Errno | null {
  switch (advice) {
    case U.MADV_DONTNEED:
      // madvise_dontneed_free_valid_vma(): hugetlb from a huge page boundary, whole huge pages only
      if (v.flags & (V.VM_LOCKED | V.VM_PFNMAP)) return new Errno('EINVAL', 'madvise');
      if (v.flags & V.VM_HUGETLB) {
        if (start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'madvise');
        end &= ~(HPAGE_SIZE - 1n);
      }
      if (end > start) zapRange(mm, start, end, false);
      return null;
    case U.MADV_PAGEOUT:
      // can_madv_lru_vma()
      if (v.flags & (V.VM_LOCKED | V.VM_PFNMAP | V.VM_HUGETLB)) return new Errno('EINVAL', 'madvise');
      madvisePageout(mm, v, start, end);
      return null;
    case U.MADV_HUGEPAGE:
      return errnoOf(modifyFlags(mm, v, start, end, (v.flags & ~V.VM_NOHUGEPAGE) | V.VM_HUGEPAGE), 'madvise');
    case U.MADV_NOHUGEPAGE:
      return errnoOf(modifyFlags(mm, v, start, end, (v.flags & ~V.VM_HUGEPAGE) | V.VM_NOHUGEPAGE), 'madvise');
    default:
      return null;
  }
}

// madvise_populate() over faultin_page_range() (FOLL_MADV_POPULATE)
function madvisePopulate(mm: Mm, start: bigint, end: bigint, write: boolean): Ret<0> {
  for (let a = start; a < end; a += PAGE) {
    const v = mm.vmas.lookup(a);
    if (!v) return new Errno('ENOMEM', 'madvise');
    // check_vma_flags()
    if (v.flags & (V.VM_PFNMAP)) return new Errno('EINVAL', 'madvise');
    if (write ? !(v.flags & V.VM_WRITE) : !(v.flags & V.VM_READ)) return new Errno('EINVAL', 'madvise');
    const r = faultinPage(mm, v, a, write);
    if (r === 'SIGSEGV' || r === 'SIGBUS') return new Errno('EFAULT', 'madvise');
  }
  return 0;
}
