// madvise() (mm/madvise.c): MADV_DONTNEED, MADV_FREE, MADV_REMOVE,
// MADV_COLD, MADV_PAGEOUT (reclaim in vmscan.ts), MADV_HUGEPAGE,
// MADV_NOHUGEPAGE, MADV_COLLAPSE of shmem (khugepaged.ts), MADV_DONTFORK,
// MADV_DOFORK, MADV_POPULATE_(READ|WRITE),
// and the guard regions (MADV_GUARD_INSTALL, MADV_GUARD_REMOVE). A
// userfaultfd with UFFD_FEATURE_EVENT_REMOVE holds DONTNEED, FREE and
// REMOVE until its handler has read of them (userfaultfd_remove()): the
// walk then goes on from where it was.

import type { Pte } from '../arm64/pgtable.ts';
import { isGuardMarkerEntry, PTE_MARKER_GUARD } from '../arm64/swapops.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { HPAGE_SIZE } from './hugetlb.ts';
import { getUserPage } from './gup.ts';
import { swapPteLike, zapRange } from './memory.ts';
import { folioPteBatch } from './internal.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE, type Folio } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import { splitAnonFolio } from './split-folio.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';
import { reclaimPages, type Picked } from './vmscan.ts';
import { punchHole } from './falloc.ts';
import { isPoisonMarkerEntry } from '../arm64/swapops.ts';
import { madviseCollapse } from './khugepaged.ts';
import { afterEvents, type Blocking, EventWait, userfaultfdRemove } from './userfaultfd.ts';

const PAGE = BigInt(PAGE_SIZE);
const SIZE_MAX = (1n << 64n) - 1n;
/** VM_SPECIAL: areas whose pages are not the kernel's to manage (no area is VM_IO here) */
const VM_SPECIAL = V.VM_PFNMAP | V.VM_DONTEXPAND | V.VM_MIXEDMAP;

const einval = () => new Errno('EINVAL', 'madvise');

// madvise_behavior_valid(), with the guard regions only where the kernel has them
function madviseBehaviorValid(mm: Mm, advice: number): boolean {
  const known = [U.MADV_NORMAL, U.MADV_DONTNEED, U.MADV_FREE, U.MADV_REMOVE, U.MADV_DONTFORK, U.MADV_DOFORK, U.MADV_COLD, U.MADV_PAGEOUT, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE, U.MADV_COLLAPSE];
  if (known.includes(advice)) return true;
  return mm.sys.cfg.kernel.madviseGuard && (advice === U.MADV_GUARD_INSTALL || advice === U.MADV_GUARD_REMOVE);
}

// do_madvise()
export function doMadvise(mm: Mm, addr: bigint, lenIn: bigint, advice: number): Blocking<Ret<0>> {
  if (!madviseBehaviorValid(mm, advice)) return einval();
  // check_input_range(): PAGE_ALIGN() may wrap a size_t to 0
  if (addr & (PAGE - 1n)) return einval();
  const len = (lenIn + PAGE - 1n) & ~(PAGE - 1n) & SIZE_MAX;
  if (lenIn !== 0n && len === 0n) return einval();
  if (addr + len > SIZE_MAX) return einval();
  if (lenIn === 0n) return 0;
  if (advice === U.MADV_POPULATE_READ || advice === U.MADV_POPULATE_WRITE) return madvisePopulate(mm, addr, addr + len, advice === U.MADV_POPULATE_WRITE);
  return madviseWalkVmas(mm, addr, addr + len, advice, false);
}

/**
 * madvise_walk_vmas(): each area in turn; a hole means ENOMEM once the rest
 * is done, an error stops the walk. An area's behaviour that dropped the
 * lock (to wait for a userfaultfd event, or MADV_REMOVE) says where its
 * range ended, and the walk goes on from there without the area.
 */
function madviseWalkVmas(mm: Mm, start: bigint, lastEnd: bigint, advice: number, unmapped: boolean): Blocking<Ret<0>> {
  let vma = mm.vmas.find(start);
  for (;;) {
    if (!vma) return new Errno('ENOMEM', 'madvise');
    if (start < vma.start) {
      unmapped = true;
      start = vma.start;
      if (start >= lastEnd) break;
    }
    let end = vma.end < lastEnd ? vma.end : lastEnd;
    const r = madviseVmaBehavior(mm, vma, start, end, advice);
    if (r instanceof Errno) return r;
    if (r instanceof EventWait || typeof r === 'bigint') {
      const goOn = (rangeEnd: Errno | bigint): Blocking<Ret<0>> => {
        if (rangeEnd instanceof Errno) return rangeEnd;
        if (rangeEnd >= lastEnd) return unmapped ? new Errno('ENOMEM', 'madvise') : 0;
        return madviseWalkVmas(mm, rangeEnd, lastEnd, advice, unmapped);
      };
      return r instanceof EventWait ? afterEvents(r, goOn) : goOn(r);
    }
    vma = r;
    if (end < vma.end) end = vma.end;
    if (end >= lastEnd) break;
    vma = mm.vmas.find(end);
    start = end;
  }
  return unmapped ? new Errno('ENOMEM', 'madvise') : 0;
}

/**
 * madvise_vma_behavior() over [start, end) of vma: the area the walk goes on
 * from, or the error; where it dropped the lock, the end of the range it
 * did, now or once the events it waits on are read.
 */
function madviseVmaBehavior(mm: Mm, vma: Vma, start: bigint, end: bigint, advice: number): Vma | Errno | bigint | EventWait<Errno | bigint> {
  switch (advice) {
    case U.MADV_REMOVE:
      return madviseRemove(mm, vma, start, end);
    case U.MADV_COLLAPSE:
      // madvise_collapse() drops the lock
      return madviseCollapse(mm, vma, start, end) ?? end;
    case U.MADV_DONTFORK:
      return madviseUpdateVma(mm, vma, start, end, vma.flags | V.VM_DONTCOPY);
    case U.MADV_DOFORK:
      // (no area here is VM_IO, which would be EINVAL)
      return madviseUpdateVma(mm, vma, start, end, vma.flags & ~V.VM_DONTCOPY);
    case U.MADV_COLD:
    case U.MADV_PAGEOUT:
      return madviseColdOrPageout(mm, vma, start, end, advice === U.MADV_PAGEOUT) ?? vma;
    case U.MADV_DONTNEED:
    case U.MADV_FREE: {
      const r = madviseDontneedFree(mm, vma, start, end, advice);
      return r === null ? vma : r;
    }
    case U.MADV_GUARD_INSTALL:
      return madviseGuardInstall(mm, vma, start, end) ?? vma;
    case U.MADV_GUARD_REMOVE:
      return madviseGuardRemove(mm, vma, start, end) ?? vma;
    case U.MADV_HUGEPAGE:
      return madviseUpdateVma(mm, vma, start, end, (vma.flags & ~V.VM_NOHUGEPAGE) | V.VM_HUGEPAGE);
    case U.MADV_NOHUGEPAGE:
      return madviseUpdateVma(mm, vma, start, end, (vma.flags & ~V.VM_HUGEPAGE) | V.VM_NOHUGEPAGE);
    default:
      return vma;
  }
}

// madvise_update_vma(): nothing to do when the flags stay; otherwise split and merge (vma_modify_flags())
function madviseUpdateVma(mm: Mm, vma: Vma, start: bigint, end: bigint, flags: number): Vma | Errno {
  if (flags === vma.flags) return vma;
  const r = modifyFlags(mm, vma, start, end, flags);
  return r instanceof Errno ? new Errno(r.name, 'madvise') : r;
}

// madvise_dontneed_free_valid_vma(): hugetlb only for MADV_DONTNEED, from a huge page boundary, whole huge pages (the end it rounds down to)
function dontneedFreeValidVma(vma: Vma, start: bigint, end: bigint, advice: number): bigint | Errno {
  if (vma.flags & V.VM_HUGETLB) {
    if (advice !== U.MADV_DONTNEED || start & (HPAGE_SIZE - 1n)) return einval();
    return end & ~(HPAGE_SIZE - 1n);
  }
  return vma.flags & (V.VM_LOCKED | V.VM_PFNMAP) ? einval() : end;
}

/**
 * madvise_dontneed_free(): with a REMOVE event to wait on, the area is
 * looked up again once it is read, and the range done is cut to it.
 */
function madviseDontneedFree(mm: Mm, vma: Vma, start: bigint, endIn: bigint, advice: number): Errno | null | EventWait<Errno | bigint> {
  const end = dontneedFreeValidVma(vma, start, endIn, advice);
  if (end instanceof Errno) return end;
  if (start === end) return null;
  const ev = userfaultfdRemove(vma, start, end);
  if (!ev) return dontneedFreeSingleVma(mm, vma, start, end, advice);
  return new EventWait([ev], () => {
    const again = mm.vmas.lookup(start);
    if (!again) return new Errno('ENOMEM', 'madvise');
    let rangeEnd = dontneedFreeValidVma(again, start, end, advice);
    if (rangeEnd instanceof Errno) return rangeEnd;
    if (rangeEnd > again.end) rangeEnd = again.end;
    if (start === rangeEnd) return rangeEnd;
    return dontneedFreeSingleVma(mm, again, start, rangeEnd, advice) ?? rangeEnd;
  });
}

// madvise_dontneed_single_vma(), madvise_free_single_vma()
function dontneedFreeSingleVma(mm: Mm, vma: Vma, start: bigint, end: bigint, advice: number): Errno | null {
  if (advice === U.MADV_DONTNEED) {
    zapRange(mm, start, end, false);
    if (mm.sys.cfg.kernel.ptReclaim) reclaimEmptyPteTables(mm, start, end);
    return null;
  }
  // madvise_free_single_vma(): anonymous memory only
  if (!vma.isAnonymous) return einval();
  mm.sys.lru.drain();
  for (let haddr = start & PMD_MASK; haddr < end; haddr += PMD_SIZE) {
    madviseFreePteRange(mm, vma, haddr > start ? haddr : start, haddr + PMD_SIZE < end ? haddr + PMD_SIZE : end);
  }
  return null;
}

/**
 * madvise_remove(): a hole punched in the file under a shared writable
 * area (vfs_fallocate()); the lock is dropped for it, and, with a REMOVE
 * event, until the event is read.
 */
function madviseRemove(mm: Mm, vma: Vma, start: bigint, end: bigint): Errno | bigint | EventWait<Errno | bigint> {
  if (vma.flags & V.VM_LOCKED || !vma.file) return einval();
  // vma_is_shared_maywrite()
  if ((vma.flags & (V.VM_SHARED | V.VM_MAYWRITE)) !== (V.VM_SHARED | V.VM_MAYWRITE)) return new Errno('EACCES', 'madvise');
  const file = vma.file;
  const offset = (start - vma.start) + vma.pgoff * PAGE;
  const punch = (): bigint => {
    punchHole(mm.sys, file, offset, end - start);
    return end;
  };
  const ev = userfaultfdRemove(vma, start, end);
  return ev ? new EventWait([ev], punch) : punch();
}

/**
 * zap_pte_range() with details->reclaim_pt: a pte table the zap covered
 * whole and left empty (nothing skipped, such as a marker) is freed.
 */
function reclaimEmptyPteTables(mm: Mm, start: bigint, end: bigint): void {
  for (const { addr, slot, val } of [...mm.pt.pmdsIn(start, end)]) {
    if (!mm.pt.pmdIsTable(val) || addr < start || addr + PMD_SIZE > end) continue;
    let empty = true;
    mm.pt.forEachPteSlot(addr, addr + PMD_SIZE, (_, __, pte) => (empty &&= pte === 0n));
    if (empty) mm.pt.freePteTable(slot);
  }
}

/**
 * madvise_free_pte_range() over [addr, end) within one pmd: swap entries
 * are freed (a fresh page costs less than a swap-in), and the anonymous
 * folios mapped here only become lazyfree: clean, their ptes clean and old,
 * for reclaim to drop. A folio partly in the range is split first.
 */
function madviseFreePteRange(mm: Mm, vma: Vma, addr: bigint, end: bigint): void {
  const pg = mm.pg;
  const pmd = mm.pt.pmdVal(addr);
  if (pmd === 0n) return;
  if (!mm.pt.pmdIsTable(pmd)) {
    // madvise_free_huge_pmd(); a huge pmd left after a failed split (the huge zero one) has no ptes to walk
    if (!madviseFreeHugePmd(mm, vma, addr, end, pmd)) return;
  }
  for (let a = addr; a < end; ) {
    const slot = mm.pt.pteSlot(a, false)!;
    const pte = mm.arch.ptepGet(slot);
    if (pte === 0n) {
      a += PAGE;
      continue;
    }
    if (!pg.ptePresent(pte)) {
      // swap entries are freed (swap_pte_batch(): a run alike but for consecutive offsets at once),
      // poison markers cleared; other markers (uffd-wp, guard) stay
      const e = pg.pteToSwpEntry(pte);
      a += PAGE;
      if (isPoisonMarkerEntry(e)) mm.pt.write(slot, 0n);
      if (!pg.isSwapEntry(e)) continue;
      const offsets = [pg.swpOffset(e)];
      mm.pt.write(slot, 0n);
      for (; a < end; a += PAGE) {
        const s = mm.pt.pteSlot(a, false)!;
        const next = mm.pt.read(s);
        const ne = pg.pteToSwpEntry(next);
        if (!pg.isSwapEntry(ne) || pg.swpOffset(ne) !== offsets[0]! + BigInt(offsets.length) || !swapPteLike(mm, pte, next)) break;
        offsets.push(pg.swpOffset(ne));
        mm.pt.write(s, 0n);
      }
      mm.sys.swap?.freeEntries(offsets);
      continue;
    }
    const folio = mm.vmNormalFolio(pte);
    if (!folio) {
      a += PAGE;
      continue;
    }
    const base = a - BigInt(folio.pageIndex(pg.ptePfn(pte))) * PAGE;
    let nr = 1;
    if (folio.nrPages > 1) {
      nr = madviseFolioPteBatch(mm, folio, slot, pte, a, end);
      if (nr < folio.nrPages) {
        if (!folioMaybeMappedShared(folio)) {
          splitAnonFolio(mm, vma, base, folio);
          continue; // this page again, now a folio of its own
        }
        a += BigInt(nr) * PAGE;
        continue;
      }
    }
    // a dirty folio must be mapped here only to be made clean
    if (folio.dirty) {
      if (folioMapcount(folio) !== folio.nrPages) {
        a += BigInt(nr) * PAGE;
        continue;
      }
      folio.dirty = false;
    }
    mm.arch.clearYoungDirtyPtes(slot, nr, { young: true, dirty: true });
    mm.sys.lru.folioMarkLazyfree(folio);
    a += BigInt(nr) * PAGE;
  }
}

/**
 * madvise_free_huge_pmd(): a PMD-mapped THP wholly in the range becomes
 * lazyfree, its pmd clean and old; one partly in it is split (false when
 * that leaves no pte table to walk).
 */
function madviseFreeHugePmd(mm: Mm, vma: Vma, addr: bigint, end: bigint, pmd: bigint): boolean {
  const pg = mm.pg;
  if (!pg.pmdPresent(pmd) || mm.sys.phys.isZeroPfn(pg.pmdPfn(pmd))) return false;
  const folio = mm.sys.phys.folioOf(pg.pmdPfn(pmd));
  if (!folio || folioMaybeMappedShared(folio)) return false;
  const haddr = addr & PMD_MASK;
  if (end - addr !== PMD_SIZE) {
    splitAnonFolio(mm, vma, haddr, folio);
    return true;
  }
  folio.dirty = false;
  if (pg.pteYoung(pmd) || pg.pteDirty(pmd)) mm.pt.write(mm.pt.pmdSlot(haddr, false)!, pg.pteMkclean(pg.pteMkold(pmd)));
  mm.sys.lru.folioMarkLazyfree(folio);
  return false;
}

/**
 * madvise_cold() and madvise_pageout(): madvise_cold_or_pageout_pte_range()
 * over [start, end) of one area, pmd by pmd, once the LRU batches are
 * drained: folios mapped here only are deactivated (MADV_COLD: their ptes
 * made old) or isolated and reclaimed (MADV_PAGEOUT); a large folio partly
 * in the range is split first. Memfds are this process's to page out
 * (can_do_file_pageout()).
 */
function madviseColdOrPageout(mm: Mm, vma: Vma, start: bigint, end: bigint, pageout: boolean): Errno | null {
  // can_madv_lru_vma()
  if (vma.flags & (V.VM_LOCKED | V.VM_PFNMAP | V.VM_HUGETLB)) return einval();
  mm.sys.lru.drain();
  for (let haddr = start & PMD_MASK; haddr < end; haddr += PMD_SIZE) {
    const picked: Picked[] = [];
    coldOrPageoutPmd(mm, vma, haddr > start ? haddr : start, haddr + PMD_SIZE < end ? haddr + PMD_SIZE : end, pageout, picked);
    if (pageout) reclaimPages(mm, vma, picked);
  }
  return null;
}

// madvise_cold_or_pageout_pte_range() for the block under one pmd
function coldOrPageoutPmd(mm: Mm, vma: Vma, lo: bigint, hi: bigint, pageout: boolean, picked: Picked[]): void {
  const pg = mm.pg;
  const haddr = lo & PMD_MASK;
  const pmd = mm.pt.pmdVal(haddr);
  if (pmd === 0n) return;
  // folio_clear_referenced(), folio_test_clear_young(), then folio_isolate_lru() or folio_deactivate()
  const take = (folio: Folio, base: bigint) => {
    folio.referenced = false;
    if (pageout) picked.push({ folio, base });
    else mm.sys.lru.folioDeactivate(folio);
  };
  if (!mm.pt.pmdIsTable(pmd)) {
    if (!pg.pmdPresent(pmd) || mm.sys.phys.isZeroPfn(pg.pmdPfn(pmd))) return;
    const folio = mm.sys.phys.folioOf(pg.pmdPfn(pmd));
    if (!folio || folioMaybeMappedShared(folio)) return;
    if (hi - lo === PMD_SIZE) {
      if (!pageout && pg.pteYoung(pmd)) mm.pt.write(mm.pt.pmdSlot(haddr, false)!, pg.pteMkold(pmd));
      take(folio, haddr);
      return;
    }
    splitAnonFolio(mm, vma, haddr, folio); // then page by page
  }
  for (let a = lo; a < hi; ) {
    const slot = mm.pt.pteSlot(a, false);
    const pte = slot === null ? 0n : mm.arch.ptepGet(slot);
    const folio = pte !== 0n && pg.ptePresent(pte) ? mm.vmNormalFolio(pte) : null;
    if (!folio) {
      a += PAGE;
      continue;
    }
    const base = a - BigInt(folio.pageIndex(pg.ptePfn(pte))) * PAGE;
    let nr = 1;
    if (folio.nrPages > 1) {
      nr = madviseFolioPteBatch(mm, folio, slot!, pte, a, hi);
      if (nr < folio.nrPages) {
        if (folioMaybeMappedShared(folio) || !folio.anon) {
          a += BigInt(nr) * PAGE;
          continue;
        }
        splitAnonFolio(mm, vma, base, folio);
        continue; // this page again, now a folio of its own
      }
    }
    // mapped here only, every page once; a folio already picked is not on the LRU any more
    if (folioMapcount(folio) === folio.nrPages && !picked.some((p) => p.folio.same(folio))) {
      if (!pageout) {
        mm.arch.clearYoungDirtyPtes(slot!, nr, { young: true, dirty: false });
      }
      take(folio, base);
    }
    a += BigInt(nr) * PAGE;
  }
}

/** madvise_folio_pte_batch(): the batch from a (slot, pte) up to hi */
function madviseFolioPteBatch(mm: Mm, folio: Folio, slot: number, pte: Pte, a: bigint, hi: bigint): number {
  return folioPteBatch(mm, folio, slot, pte, Number((hi - a) / PAGE));
}

/** folio_maybe_mapped_shared(): some page is mapped more than once */
function folioMaybeMappedShared(f: Folio): boolean {
  for (let i = 0; i < f.nrPages; i++) if (f.mapcountOf(i) + f.pmdMapped > 1) return true;
  return false;
}

/** folio_mapcount() */
function folioMapcount(f: Folio): number {
  let n = f.pmdMapped * f.nrPages;
  for (let i = 0; i < f.nrPages; i++) n += f.mapcountOf(i);
  return n;
}

// is_valid_guard_vma(): not in special, hugetlb or (to install) locked areas
function isValidGuardVma(vma: Vma, allowLocked: boolean): boolean {
  return !(vma.flags & (VM_SPECIAL | V.VM_HUGETLB | (allowLocked ? 0 : V.VM_LOCKED)));
}

/**
 * madvise_guard_install(): the area is marked VM_MAYBE_GUARD, anything
 * mapped in the range (huge pmds too) is zapped, and every pte gets a guard
 * marker, page tables allocated for them.
 */
function madviseGuardInstall(mm: Mm, vma: Vma, start: bigint, end: bigint): Errno | null {
  if (!isValidGuardVma(vma, false)) return einval();
  vma.flags |= V.VM_MAYBE_GUARD;
  if (vma.isAnonymous) vma.anonVma ??= mm.sys.newAnonVma(); // anon_vma_prepare()
  const pg = mm.pg;
  const isGuard = (pte: Pte) => isGuardMarkerEntry(pg.pteToSwpEntry(pte));
  // the walk gives up at a huge pmd or a pte other than none or a guard marker, and the range is zapped
  const populated = [...mm.pt.pmdsIn(start, end)].some(({ val }) => !mm.pt.pmdIsTable(val));
  let mapped = populated;
  if (!populated) mm.pt.forEachPteSlot(start, end, (_, __, pte) => (mapped ||= pte !== 0n && !isGuard(pte)));
  if (mapped) {
    zapRange(mm, start, end, false);
    // a zap leaves a file area's uffd-wp markers, which the kernel retries (restart_syscall()) forever
    mm.pt.forEachPteSlot(start, end, (a, __, pte) => {
      if (pte !== 0n && !isGuard(pte)) throw new Error(`madvise(MADV_GUARD_INSTALL): a uffd-wp marker at 0x${a.toString(16)} makes the kernel retry forever (not modelled)`);
    });
  }
  // guard_install_set_pte() in every none pte (walk_page_range_mm_unsafe() allocates the tables)
  for (let a = start; a < end; a += PAGE) {
    const slot = mm.pt.pteSlot(a, true)!;
    if (mm.pt.read(slot) === 0n) mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_GUARD));
  }
  return null;
}

// madvise_guard_remove(): clears the guard markers, nothing else (locked areas too)
function madviseGuardRemove(mm: Mm, vma: Vma, start: bigint, end: bigint): Errno | null {
  if (!isValidGuardVma(vma, true)) return einval();
  mm.pt.forEachPteSlot(start, end, (_, slot, pte) => {
    if (isGuardMarkerEntry(mm.pg.pteToSwpEntry(pte))) mm.pt.write(slot, 0n);
  });
  return null;
}

/**
 * madvise_populate() -> faultin_page_range(): GUP page by page, faulting
 * in what is missing; FOLL_TOUCH then marks each page accessed (and dirty
 * for a write), and the LRU batches are drained.
 */
function madvisePopulate(mm: Mm, start: bigint, end: bigint, write: boolean): Ret<0> {
  const err = populateRange(mm, start, end, write);
  mm.sys.lru.drain();
  return err;
}

// __get_user_pages(FOLL_MADV_POPULATE)
function populateRange(mm: Mm, start: bigint, end: bigint, write: boolean): Ret<0> {
  let v: Vma | null = null;
  for (let a = start, increm = 1n; a < end; a += increm * PAGE) {
    // the first iteration or across an area's end: vma_lookup() and check_vma_flags()
    if (v === null || a >= v.end) {
      v = mm.vmas.lookup(a);
      if (!v) return new Errno('ENOMEM', 'madvise');
      if (v.flags & V.VM_PFNMAP) return einval();
      if (write ? !(v.flags & V.VM_WRITE) : !(v.flags & V.VM_READ)) return einval();
    }
    const r = getUserPage(mm, v, a, write);
    // faultin_page_range() with FOLL_HWPOISON: a poisoned page is EHWPOISON, not EFAULT
    if (r === 'HWPOISON') return new Errno('EHWPOISON', 'madvise');
    if (r === 'SIGSEGV' || r === 'SIGBUS') return new Errno('EFAULT', 'madvise');
    increm = typeof r === 'number' ? BigInt(r) : 1n;
  }
  return 0;
}

