// Moving areas (mm/mremap.c): mremap() moves with MREMAP_MAYMOVE |
// MREMAP_FIXED (resizing is not modelled yet), move_vma() and
// move_page_tables().

import type { Pte } from '../arm64/pgtable.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import { HPAGE_SIZE, hugeAlign } from './hugetlb.ts';
import { pageAlign, pageAligned, type Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import * as V from './vma.ts';
import { Vma } from './vma.ts';
import { doMunmap, mergeNew } from './vma-ops.ts';

const PAGE = BigInt(PAGE_SIZE);

// mremap() -> do_mremap(): moves to a fixed address, the length unchanged; resizing is not modelled
export function doMremap(mm: Mm, oldAddr: bigint, oldLen: bigint, newLen: bigint, flags: number, newAddr: bigint): Ret<bigint> {
  if (flags & ~(U.MREMAP_MAYMOVE | U.MREMAP_FIXED | U.MREMAP_DONTUNMAP)) return new Errno('EINVAL', 'mremap');
  if (flags & U.MREMAP_FIXED && !(flags & U.MREMAP_MAYMOVE)) return new Errno('EINVAL', 'mremap');
  if (!pageAligned(oldAddr)) return new Errno('EINVAL', 'mremap');
  oldLen = pageAlign(oldLen);
  newLen = pageAlign(newLen);
  if (newLen === 0n) return new Errno('EINVAL', 'mremap');
  const vma = mm.vmas.lookup(oldAddr);
  if (!vma) return new Errno('EFAULT', 'mremap');
  if (vma.flags & V.VM_HUGETLB) {
    // align_hugetlb(): lengths round up to huge pages, addresses must be aligned, no growing
    oldLen = hugeAlign(oldLen);
    newLen = hugeAlign(newLen);
    if ((oldAddr | newAddr) & (HPAGE_SIZE - 1n) || newLen > oldLen) return new Errno('EINVAL', 'mremap');
  }
  if (oldAddr + oldLen > vma.end) return new Errno('EFAULT', 'mremap');
  if (!(flags & U.MREMAP_FIXED)) {
    if (newLen !== oldLen) return new Errno('ENOMEM', 'mremap'); // growing/shrinking in place: not modelled
    return oldAddr;
  }
  if (!pageAligned(newAddr)) return new Errno('EINVAL', 'mremap');
  if (newAddr + newLen > oldAddr && oldAddr + oldLen > newAddr) return new Errno('EINVAL', 'mremap');
  if (newLen !== oldLen) return new Errno('ENOMEM', 'mremap');
  const unmapped = doMunmap(mm, newAddr, newLen);
  if (unmapped) return unmapped;
  return moveVma(mm, mm.vmas.lookup(oldAddr)!, oldAddr, oldLen, newAddr);
}

// move_vma(): copy_vma(), move_page_tables(), then unmap the old range
function moveVma(mm: Mm, vma: Vma, oldAddr: bigint, len: bigint, newAddr: bigint): bigint {
  let pgoff = vma.pgoff + ((oldAddr - vma.start) >> 12n);
  // copy_vma(): an anonymous area never faulted takes the pgoff of its new place
  if (vma.isAnonymous && vma.anonVma === null) pgoff = newAddr >> 12n;
  // mremap_userfaultfd_prep(): without UFFD_FEATURE_EVENT_REMAP the copy leaves the userfaultfd
  const leavesUffd = uffdWithoutEventRemap(vma);
  const flags = leavesUffd ? vma.flags & ~V.VM_UFFD_WP : vma.flags;
  // vm_area_dup(): the copy shares a private hugetlb mapping's reservations
  const copy = new Vma(newAddr, newAddr + len, flags, pgoff, vma.file, vma.pageProt, vma.anonVma, vma.hugetlbResv);
  copy.uffdCtx = leavesUffd ? null : vma.uffdCtx;
  const target = vma.isAnonymous ? mergeNew(mm, copy) : (mm.vmas.insert(copy), copy);
  movePageTables(mm, oldAddr, newAddr, len, (vma.flags & V.VM_HUGETLB) !== 0, leavesUffd);
  mm.vmaSetPageProt(target);
  // fixup_hugetlb_reservations(): the whole old area lets go of them, unreleased; what it still maps is left unreserved
  vma.hugetlbResv = null;
  doMunmap(mm, oldAddr, len);
  return newAddr;
}

// vma_has_uffd_without_event_remap(); a context that wants remap events needs a handler, which is not modelled
function uffdWithoutEventRemap(vma: Vma): boolean {
  if (!vma.uffdCtx) return false;
  if (vma.uffdCtx.features & U.UFFD_FEATURE_EVENT_REMAP) throw new Error('userfaultfd: mremap with UFFD_FEATURE_EVENT_REMAP sends an event to a handler, which is not modelled');
  return true;
}

/**
 * move_ptes() / move_huge_pmd(): moved entries become soft-dirty
 * (move_soft_dirty_pte()), move_huge_pte() for hugetlb does not; with
 * `clearUffdWp` they lose uffd-wp and markers are dropped (0cef0bb836e3).
 */
function movePageTables(mm: Mm, oldAddr: bigint, newAddr: bigint, len: bigint, hugetlb: boolean, clearUffdWp: boolean): void {
  const pg = mm.pg;
  const uffdCleared = (e: Pte, present: boolean): Pte => (!clearUffdWp ? e : present ? pg.pteClearUffdWp(e) : pg.pteSwpClearUffdWp(e));
  for (let off = 0n; off < len; off += PAGE) {
    const from = oldAddr + off;
    const to = newAddr + off;
    const pmdSlot = mm.pt.pmdSlot(from, false);
    if (pmdSlot === null) continue;
    const pmd = mm.pt.read(pmdSlot);
    if (pmd !== 0n && !mm.pt.pmdIsTable(pmd)) {
      const aligned = (from & ~PMD_MASK) === 0n && (to & ~PMD_MASK) === 0n && len - off >= PMD_SIZE;
      if (aligned) {
        mm.pt.write(pmdSlot, 0n);
        off += PMD_SIZE - PAGE;
        // move_huge_pte(): a hugetlb uffd-wp marker is dropped with the rest of uffd-wp
        if (clearUffdWp && pg.pteMarkerUffdWp(pmd)) continue;
        const moved = hugetlb ? pmd : pg.pmdPresent(pmd) ? pg.pteMksoftDirty(pmd) : pg.pteSwpMksoftDirty(pmd);
        mm.pt.write(mm.pt.pmdSlot(to, true)!, uffdCleared(moved, pg.pmdPresent(pmd)));
        continue;
      }
      splitHugePmd(mm, from & PMD_MASK);
    }
    const s = mm.pt.pteSlot(from, false);
    if (s === null) continue;
    const pte = mm.pt.read(s);
    if (pte === 0n) continue;
    mm.pt.write(s, 0n);
    if (clearUffdWp && pg.pteMarkerUffdWp(pte)) continue;
    const moved = pg.ptePresent(pte) ? pg.pteMksoftDirty(pte) : pg.pteSwpMksoftDirty(pte);
    mm.pt.write(mm.pt.pteSlot(to, true)!, uffdCleared(moved, pg.ptePresent(pte)));
  }
}
