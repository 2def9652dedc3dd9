// Changing protection (mm/mprotect.c): mprotect() through mprotect_fixup(),
// and change_protection(), which uffd-wp uses too.

import type { Pte } from '../arm64/pgtable.ts';
import { PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import { pageAlign, pageAligned, type Mm } from './mm.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';

// do_mprotect_pkey()
export function doMprotectPkey(mm: Mm, addr: bigint, len: bigint, prot: number): Ret<0> {
  if (!pageAligned(addr)) return new Errno('EINVAL', 'mprotect');
  if (prot & ~(U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC)) return new Errno('EINVAL', 'mprotect');
  len = pageAlign(len);
  const end = addr + len;
  if (end < addr) return new Errno('ENOMEM', 'mprotect');
  if (len === 0n) return 0;
  // the whole range must be mapped, without holes
  let cursor = addr;
  const areas = mm.vmas.overlapping(addr, end);
  for (const v of areas) {
    if (v.start > cursor) return new Errno('ENOMEM', 'mprotect');
    const want = prot & (U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC);
    if ((want & ~(v.flags >> 4)) & V.VM_ACCESS_FLAGS) return new Errno('EACCES', 'mprotect');
    cursor = v.end;
  }
  if (cursor < end) return new Errno('ENOMEM', 'mprotect');
  for (const v of mm.vmas.overlapping(addr, end)) {
    const s = v.start > addr ? v.start : addr;
    const e = v.end < end ? v.end : end;
    const err = mprotectFixup(mm, v, s, e, (v.flags & ~V.VM_ACCESS_FLAGS) | prot);
    if (err) return new Errno(err.name, 'mprotect');
  }
  return 0;
}

// mprotect_fixup()
function mprotectFixup(mm: Mm, v: Vma, start: bigint, end: bigint, newflags: number): Errno | null {
  if (newflags === v.flags) return null;
  if (newflags & V.VM_WRITE && !(v.flags & (V.VM_ACCOUNT | V.VM_WRITE | V.VM_HUGETLB | V.VM_SHARED | V.VM_NORESERVE)))
    newflags |= V.VM_ACCOUNT;
  const vma = modifyFlags(mm, v, start, end, newflags);
  if (vma instanceof Errno) return vma;
  mm.vmaSetPageProt(vma);
  changeProtection(mm, vma, start, end, mm.vmaWantsManualPteWriteUpgrade(vma));
  return null;
}

/**
 * change_protection() -> change_pte_range() / change_huge_pmd(): every
 * entry of [start, end) to vma's protection, or (uffd) to `prot` with
 * uffd-wp set (MM_CP_UFFD_WP: markers in empty ptes where the area uses
 * them) or cleared (MM_CP_UFFD_WP_RESOLVE).
 */
export function changeProtection(mm: Mm, vma: Vma, start: bigint, end: bigint, tryChangeWritable: boolean, uffd: 'wp' | 'resolve' | null = null, prot = vma.pageProt): void {
  const pg = mm.pg;
  if (vma.flags & V.VM_HUGETLB) {
    // hugetlb_change_protection(): no write upgrade, the next store faults; uffd-wp puts markers
    // in none entries (allocating the table) and resolving takes them away
    for (let addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
      const slot = mm.pt.pmdSlot(addr, uffd === 'wp');
      if (slot === null) continue;
      const val = mm.pt.read(slot);
      if (val === 0n) {
        if (uffd === 'wp') mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
      } else if (pg.isPteMarker(val)) {
        if (uffd === 'resolve') mm.pt.write(slot, 0n);
      } else if (pg.pmdPresent(val)) {
        let entry = pg.pmdMkhuge(pg.pteModify(val, prot));
        if (uffd === 'wp') entry = pg.pteMkuffdWp(entry);
        else if (uffd === 'resolve') entry = pg.pteClearUffdWp(entry);
        mm.pt.write(slot, entry);
      }
    }
    return;
  }
  const modify = (entry: Pte): Pte => {
    let next = pg.pteModify(entry, prot);
    if (uffd === 'wp') next = pg.pteMkuffdWp(next);
    else if (uffd === 'resolve') next = pg.pteClearUffdWp(next);
    return tryChangeWritable && !pg.pteWrite(next) && canChangePteWritable(mm, vma, next) ? pg.pteMkwrite(next) : next;
  };
  // change_softleaf_pte(): swap entries carry uffd-wp; a resolved marker goes
  const softleaf = (pte: Pte): Pte => {
    if (pg.isPteMarker(pte)) return uffd === 'resolve' ? 0n : pte;
    if (uffd === 'wp') return pg.pteSwpMkuffdWp(pte);
    if (uffd === 'resolve') return pg.pteSwpClearUffdWp(pte);
    return pte;
  };
  const markers = uffd === 'wp' && mm.uffdWpUseMarkers(vma);
  for (const { addr, slot, val } of [...mm.pt.pmdsIn(start, end)]) {
    if (mm.pt.pmdIsTable(val)) continue;
    if (addr < start || addr + PMD_SIZE > end) splitHugePmd(mm, addr);
    else if (pg.pmdPresent(val)) mm.pt.write(slot, modify(val));
  }
  // change_pmd_prepare(): markers need pte tables under the whole range
  if (markers) for (let a = start; a < end; a = (a & PMD_MASK) + PMD_SIZE) if (mm.pt.pmdVal(a) === 0n) mm.pt.pteSlot(a, true);
  mm.pt.forEachPteSlot(start, end, (_, slot, pte) => {
    if (pte === 0n) {
      if (markers) mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
    } else mm.pt.write(slot, pg.ptePresent(pte) ? modify(pte) : softleaf(pte));
  });
}

// can_change_pte_writable()
function canChangePteWritable(mm: Mm, vma: Vma, pte: Pte): boolean {
  if (!(vma.flags & V.VM_WRITE)) return false;
  if (mm.pg.pteProtnone(pte)) return false;
  if (mm.pteNeedsSoftDirtyWp(vma, pte)) return false;
  if (vma.flags & V.VM_UFFD_WP && mm.pg.pteUffdWp(pte)) return false;
  if (!(vma.flags & V.VM_SHARED)) {
    const f = mm.vmNormalFolio(pte);
    return f !== null && f.anon && f.anonExclusive[f.pageIndex(mm.pg.ptePfn(pte))] === 1;
  }
  return mm.pg.pteDirty(pte);
}
