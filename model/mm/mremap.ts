// Remapping areas (mm/mremap.c): mremap() shrinks an area in place, grows
// it in place or moves it (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP),
// a pure move taking every area of the range (remap_move()); move_vma()
// copies the area and move_page_tables() carries its tables along.

import type { Pte } from '../arm64/pgtable.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import { HPAGE_SIZE, hugeAlign } from './hugetlb.ts';
import { folioPteBatch } from './internal.ts';
import { TASK_SIZE, pageAlign, pageAligned, type Mm } from './mm.ts';
import { getUnmappedArea } from './mmap.ts';
import { PAGE_SIZE } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import * as V from './vma.ts';
import { Vma } from './vma.ts';
import { doMunmap, mergeExtend, mergeNew } from './vma-ops.ts';
import { type Blocking, EventWait, type UffdCtx, UnmapList, userfaultfdEvent } from './userfaultfd.ts';

const PAGE = BigInt(PAGE_SIZE);
const PUD_SIZE = 1n << 30n;
const einval = () => new Errno('EINVAL', 'mremap');
const efault = () => new Errno('EFAULT', 'mremap');
const failed = (e: Errno) => new Errno(e.name, 'mremap');

/** struct vma_remap_struct: the call, its lengths page-aligned (huge-page-aligned for hugetlb) */
interface Remap {
  addr: bigint;
  oldLen: bigint;
  newLen: bigint;
  readonly flags: number;
  newAddr: bigint;
  /** vrm->uf: the context a moved area keeps, to be told of the move (UFFD_FEATURE_EVENT_REMAP) */
  uf?: UffdCtx;
  /** vrm->uf_unmap_early: UNMAP events owed by the destination MREMAP_FIXED clears */
  readonly ufUnmapEarly: UnmapList;
  /** vrm->uf_unmap: those owed by a shrink and by the source a move leaves */
  readonly ufUnmap: UnmapList;
}

// mremap() -> do_mremap()
export function doMremap(mm: Mm, addr: bigint, oldLen: bigint, newLen: bigint, flags: number, newAddr: bigint): Blocking<Ret<bigint>> {
  const r: Remap = { addr, oldLen: pageAlign(oldLen), newLen: pageAlign(newLen), flags, newAddr, ufUnmapEarly: new UnmapList(), ufUnmap: new UnmapList() };
  const res = mremapLocked(mm, r, oldLen !== newLen);
  return notifyUffd(r, res);
}

// notify_uffd(): once the lock is dropped, the early UNMAP events, the REMAP event of a move (mremap_userfaultfd_complete()), then the other UNMAP events, each waited for
function notifyUffd(r: Remap, res: Ret<bigint>): Blocking<Ret<bigint>> {
  const late = () => r.ufUnmap.complete(() => res);
  return r.ufUnmapEarly.complete(() => {
    if (!r.uf) return late();
    return new EventWait([userfaultfdEvent(r.uf, { event: 'REMAP', from: r.addr, to: res as bigint, len: r.oldLen })], late);
  });
}

// do_mremap() under the mmap lock
function mremapLocked(mm: Mm, r: Remap, lengthsGivenDiffer: boolean): Ret<bigint> {
  const k = mm.sys.cfg.kernel;
  const { addr, flags } = r;
  // 6.12 compares MREMAP_DONTUNMAP's lengths as given
  const bad = checkMremapParams(mm, r, k.mremapEarlyChecks ? r.oldLen !== r.newLen : lengthsGivenDiffer);
  if (bad) return bad;
  // vrm_move_only()
  if (k.mremapMultiVma && flags & U.MREMAP_FIXED && r.oldLen === r.newLen) return remapMove(mm, r);
  const vma = mm.vmas.lookup(addr);
  if (!vma) return efault();
  if (vma.flags & V.VM_HUGETLB && !alignHugetlb(r)) return einval();
  // check_prep_vma() for whatever maps anew; 6.12's vma_to_resize() for a growth in place (mremap_to() has its own)
  const resizeChecks = k.mremapEarlyChecks ? r.newLen > r.oldLen || impliesNewAddr(r) : r.newLen > r.oldLen && !impliesNewAddr(r);
  const err = resizeChecks ? vmaToResize(r, vma) : null;
  if (err) return err;
  return impliesNewAddr(r) ? mremapTo(mm, r) : mremapAt(mm, r, vma);
}

// vrm_implies_new_addr()
function impliesNewAddr(r: Remap): boolean {
  return (r.flags & (U.MREMAP_FIXED | U.MREMAP_DONTUNMAP)) !== 0;
}

// check_mremap_params(); 6.12 checks the new address in mremap_to() instead (checkNewAddr())
function checkMremapParams(mm: Mm, r: Remap, lengthsDiffer: boolean): Errno | null {
  const early = mm.sys.cfg.kernel.mremapEarlyChecks;
  if (r.flags & ~(U.MREMAP_MAYMOVE | U.MREMAP_FIXED | U.MREMAP_DONTUNMAP)) return einval();
  if (!pageAligned(r.addr)) return einval();
  // a zero old_len duplicates a shared area; a zero new_len is nonsense
  if (r.newLen === 0n) return einval();
  if (early && r.newLen > TASK_SIZE) return einval();
  if (!impliesNewAddr(r)) return null;
  if (!(r.flags & U.MREMAP_MAYMOVE)) return einval();
  // MREMAP_DONTUNMAP does not resize
  if (r.flags & U.MREMAP_DONTUNMAP && lengthsDiffer) return einval();
  return early ? checkNewAddr(r) : null;
}

// the new address in range, page-aligned, clear of the old range (vrm_overlaps())
function checkNewAddr(r: Remap): Errno | null {
  if (r.newLen > TASK_SIZE || r.newAddr > TASK_SIZE - r.newLen || !pageAligned(r.newAddr)) return einval();
  if (r.addr + r.oldLen > r.newAddr && r.newAddr + r.newLen > r.addr) return einval();
  return null;
}

// align_hugetlb(): lengths round up to huge pages, addresses must be aligned, no growing (reservations cannot split)
function alignHugetlb(r: Remap): boolean {
  r.oldLen = hugeAlign(r.oldLen);
  r.newLen = hugeAlign(r.newLen);
  return ((r.addr | r.newAddr) & (HPAGE_SIZE - 1n)) === 0n && r.newLen <= r.oldLen;
}

/**
 * The checks of check_prep_vma() (6.12: vma_to_resize()) for a remap that
 * maps anew: growing or moving.
 */
function vmaToResize(r: Remap, vma: Vma): Errno | null {
  // duplicating a private area would make an unrelated fresh one
  if (r.oldLen === 0n && !(vma.flags & (V.VM_SHARED | V.VM_MAYSHARE))) return einval();
  if (r.flags & U.MREMAP_DONTUNMAP && vma.flags & (V.VM_DONTEXPAND | V.VM_PFNMAP)) return einval();
  // no remap across the end of the area; a shrink may unmap across it
  const kept = r.newLen < r.oldLen ? r.newLen : r.oldLen;
  if (kept > vma.end - r.addr) return efault();
  if (r.newLen <= r.oldLen) return null;
  if (vma.flags & (V.VM_DONTEXPAND | V.VM_PFNMAP)) return efault();
  return null;
}

/**
 * remap_move(): a pure move, area by area: each part of the range moves to
 * the end of the one before plus the gap between them. A gap at the start,
 * or an area registered with a userfaultfd among others, is EFAULT; what
 * moved before an error stays moved.
 */
function remapMove(mm: Mm, r: Remap): Ret<bigint> {
  const start = r.addr;
  const end = r.addr + r.oldLen;
  let target = r.newAddr;
  let res: Ret<bigint> = efault();
  let seen = false;
  let lastEnd = start;
  for (let vma = mm.vmas.find(start); vma && vma.start < end; vma = mm.vmas.find(lastEnd)) {
    if (!seen && start < vma.start) return efault();
    const offset = seen ? vma.start - lastEnd : 0n;
    lastEnd = vma.end;
    const addr = vma.start > start ? vma.start : start;
    const len = (end < vma.end ? end : vma.end) - addr;
    const part: Remap = { addr, oldLen: len, newLen: len, flags: r.flags, newAddr: target + offset, ufUnmapEarly: r.ufUnmapEarly, ufUnmap: r.ufUnmap };
    // vma_multi_allowed(): an area armed with a userfaultfd moves alone (its notification drops the lock)
    if (vma.flags & (V.VM_UFFD_MISSING | V.VM_UFFD_WP) && (seen || vma.end < end)) return efault();
    if (vma.flags & V.VM_HUGETLB && !alignHugetlb(part)) return einval();
    const err = vmaToResize(part, vma);
    if (err) return err;
    const moved = mremapTo(mm, part);
    if (part.uf) r.uf = part.uf;
    if (moved instanceof Errno) return moved;
    if (!seen) res = moved;
    seen = true;
    target = moved + part.newLen;
  }
  return res;
}

/**
 * mremap_to(): unmap the destination (MREMAP_FIXED), shrink, then move.
 * 6.12 checks the new address here and the area only after both unmaps.
 */
function mremapTo(mm: Mm, r: Remap): Ret<bigint> {
  const early = mm.sys.cfg.kernel.mremapEarlyChecks;
  const bad = early ? null : checkNewAddr(r);
  if (bad) return bad;
  if (r.flags & U.MREMAP_FIXED) {
    const err = doMunmap(mm, r.newAddr, r.newLen, r.ufUnmapEarly);
    if (err) return failed(err);
  }
  if (r.newLen < r.oldLen) {
    const err = doMunmap(mm, r.addr + r.newLen, r.oldLen - r.newLen, r.ufUnmap);
    if (err) return failed(err);
    r.oldLen = r.newLen;
  }
  // the unmaps may have cut the area
  const vma = mm.vmas.lookup(r.addr);
  if (!vma) return efault();
  const err = (early ? null : vmaToResize(r, vma)) ?? setNewAddr(mm, r, vma);
  if (err) return err;
  return moveVma(mm, r, vma);
}

// mremap_at(): in place, or moved by expand_vma() when there is no room
function mremapAt(mm: Mm, r: Remap, vma: Vma): Ret<bigint> {
  if (r.newLen === r.oldLen) return r.addr;
  if (r.newLen < r.oldLen) {
    // shrink_vma(): the tail is unmapped, whatever areas it crosses
    const err = doMunmap(mm, r.addr + r.newLen, r.oldLen - r.newLen, r.ufUnmap);
    return err ? failed(err) : r.addr;
  }
  // expand_vma(): in place when [addr, addr + old_len) ends the area and the room after it is free
  const delta = r.newLen - r.oldLen;
  if (vma.end - r.addr === r.oldLen && vmaExpandable(mm, vma, delta)) {
    mergeExtend(mm, vma, delta);
    return r.addr;
  }
  if (!(r.flags & U.MREMAP_MAYMOVE)) return new Errno('ENOMEM', 'mremap');
  const err = setNewAddr(mm, r, vma);
  if (err) return err;
  return moveVma(mm, r, vma);
}

// vma_expandable(): nothing in [vm_end, vm_end + delta), and the area still under TASK_SIZE
function vmaExpandable(mm: Mm, vma: Vma, delta: bigint): boolean {
  const end = vma.end + delta;
  return mm.vmas.overlapping(vma.end, end).length === 0 && end <= TASK_SIZE;
}

// vrm_set_new_addr(): MREMAP_FIXED's address, else get_unmapped_area() with MREMAP_DONTUNMAP's as a hint (hugetlb never gets here: it neither grows nor takes MREMAP_DONTUNMAP)
function setNewAddr(mm: Mm, r: Remap, vma: Vma): Errno | null {
  if (r.flags & U.MREMAP_FIXED) return null;
  const hint = impliesNewAddr(r) ? r.newAddr : 0n;
  const got = getUnmappedArea(mm, hint, r.newLen, vma.isAnonymous, PAGE);
  if (got instanceof Errno) return failed(got);
  r.newAddr = got;
  return null;
}

/**
 * move_vma(): copy_vma() to the new place, move_page_tables(), then
 * unmap the old range (unmap_source_vma()) or, with MREMAP_DONTUNMAP,
 * leave it mapped and empty (dontunmap_complete()).
 */
function moveVma(mm: Mm, r: Remap, vma: Vma): bigint {
  const dontUnmap = (r.flags & U.MREMAP_DONTUNMAP) !== 0;
  const copy = copyVma(mm, vma, r.newAddr, r.newLen, vma.pgoff + ((r.addr - vma.start) >> 12n), dontUnmap);
  movePageTables(mm, { old: vma, new: copy, oldAddr: r.addr, newAddr: r.newAddr, oldEnd: r.addr + r.oldLen, lenIn: r.oldLen });
  if (mremapUserfaultfdPrep(mm, copy)) r.uf = copy.uffdCtx as UffdCtx;
  // fixup_hugetlb_reservations(): the whole old area lets go of them, unreleased; what it still maps is left unreserved
  vma.hugetlbResv = null;
  if (dontUnmap) {
    // the old area, if wholly moved, no longer needs its anon_vma, and is again "never faulted"
    if (vma.start === r.addr && vma.end === r.addr + r.oldLen) {
      vma.anonVma = null;
      if (vma.isAnonymous) vma.pgoff = vma.start >> 12n;
    }
  } else if (r.oldLen > 0n) {
    // (duplicating a shared area with a zero old_len unmaps nothing: do_vmi_munmap() refuses the length)
    doMunmap(mm, r.addr, r.oldLen, r.ufUnmap);
  }
  return r.newAddr;
}

/**
 * copy_vma(): the new area, merged with its new neighbours where they
 * match. An anonymous area never faulted takes the pgoff of its new place,
 * so it may even merge with itself, unless MREMAP_DONTUNMAP keeps it.
 */
function copyVma(mm: Mm, vma: Vma, addr: bigint, len: bigint, pgoff: bigint, keepSource: boolean): Vma {
  const unfaulted = vma.isAnonymous && vma.anonVma === null;
  // vm_area_dup(): flags, protection, userfaultfd context, a private hugetlb mapping's reservations
  const copy = new Vma(addr, addr + len, vma.flags, unfaulted ? addr >> 12n : pgoff, vma.file, vma.pageProt, vma.anonVma, vma.hugetlbResv);
  copy.uffdCtx = vma.uffdCtx;
  return mergeNew(mm, copy, unfaulted && keepSource ? vma : null);
}

/**
 * mremap_userfaultfd_prep(): a context with UFFD_FEATURE_EVENT_REMAP keeps
 * the new area and is to be told (true; its mmap_changing raised until the
 * event is read); without it the new area leaves its userfaultfd
 * (userfaultfd_reset_ctx()).
 */
function mremapUserfaultfdPrep(mm: Mm, v: Vma): boolean {
  if (!v.uffdCtx) return false;
  if (!uffdWithoutEventRemap(v)) return true;
  v.flags &= ~V.VM_UFFD_FLAGS;
  v.uffdCtx = null;
  mm.vmaSetPageProt(v);
  return false;
}

// vma_has_uffd_without_event_remap()
function uffdWithoutEventRemap(vma: Vma): boolean {
  return vma.uffdCtx !== null && !(vma.uffdCtx.features & U.UFFD_FEATURE_EVENT_REMAP);
}

/** struct pagetable_move_control */
interface MoveControl {
  readonly old: Vma;
  readonly new: Vma;
  oldAddr: bigint;
  newAddr: bigint;
  readonly oldEnd: bigint;
  readonly lenIn: bigint;
}

/**
 * move_page_tables(): a pud or pmd entry at a time where the extent covers
 * it (the table moves whole, empty or not), else pte by pte into a table
 * allocated at the new place (move_ptes()) wherever the old one exists.
 * Page-table moves are off while uffd-wp must be cleared from the entries.
 */
function movePageTables(mm: Mm, pmc: MoveControl): void {
  if (pmc.lenIn === 0n) return;
  if (pmc.old.flags & V.VM_HUGETLB) return moveHugetlbPageTables(mm, pmc);
  tryRealignAddr(mm, pmc);
  const pt = mm.pt;
  const clearUffdWp = uffdWithoutEventRemap(pmc.old);
  // uffd_supports_page_table_move()
  const tableMove = !clearUffdWp && !uffdWithoutEventRemap(pmc.new);
  for (let extent = 0n; pmc.oldAddr < pmc.oldEnd; pmc.oldAddr += extent, pmc.newAddr += extent) {
    extent = getExtent(PUD_SIZE, pmc);
    // get_old_pud(), alloc_new_pud()
    const oldPud = pt.slot(pmc.oldAddr, 1, false);
    if (oldPud === null || pt.read(oldPud) === 0n) continue;
    const newPud = pt.slot(pmc.newAddr, 1, true)!;
    if (extent === PUD_SIZE && tableMove && moveEntry(mm, oldPud, newPud)) continue; // move_normal_pud()
    extent = getExtent(PMD_SIZE, pmc);
    // get_old_pmd(), alloc_new_pmd()
    const oldPmd = pt.slot(pmc.oldAddr, 2, false)!;
    const pmd = pt.read(oldPmd);
    if (pmd === 0n) continue;
    const newPmd = pt.slot(pmc.newAddr, 2, true)!;
    if (!pt.pmdIsTable(pmd)) {
      if (extent === PMD_SIZE && moveHugePmd(mm, oldPmd, newPmd, clearUffdWp)) continue;
      splitHugePmd(mm, pmc.oldAddr & PMD_MASK);
    } else if (extent === PMD_SIZE && tableMove && moveEntry(mm, oldPmd, newPmd)) {
      continue; // move_normal_pmd()
    }
    // a split file THP leaves no table
    if (!pt.pmdIsTable(pt.read(oldPmd))) continue;
    pt.pteSlot(pmc.newAddr, true); // pte_alloc()
    mm.sys.fn.movePtes(mm, pmc.oldAddr, pmc.newAddr, extent, clearUffdWp);
  }
}

// get_extent(): up to the next boundary of `size` on both sides, within the range
function getExtent(size: bigint, pmc: MoveControl): bigint {
  const mask = ~(size - 1n);
  let extent = ((pmc.oldAddr + size) & mask) - pmc.oldAddr;
  if (extent > pmc.oldEnd - pmc.oldAddr) extent = pmc.oldEnd - pmc.oldAddr;
  const toNext = ((pmc.newAddr + size) & mask) - pmc.newAddr;
  return extent < toNext ? extent : toNext;
}

/**
 * try_realign_addr(): when the range reaches the next PMD boundary and both
 * ends sit at the same offset into a PMD, at the start of their areas with
 * nothing mapped below them down to the boundary, start the move at the
 * boundary so the first table moves whole.
 */
function tryRealignAddr(mm: Mm, pmc: MoveControl): void {
  const offset = pmc.oldAddr & ~PMD_MASK;
  if (pmc.lenIn < PMD_SIZE - offset || offset === 0n || offset !== (pmc.newAddr & ~PMD_MASK)) return;
  // can_align_down()
  const canAlignDown = (v: Vma, addr: bigint) => v.start === addr && mm.vmas.overlapping(addr & PMD_MASK, v.start).length === 0;
  if (!canAlignDown(pmc.old, pmc.oldAddr) || !canAlignDown(pmc.new, pmc.newAddr)) return;
  pmc.oldAddr &= PMD_MASK;
  pmc.newAddr &= PMD_MASK;
}

// move_normal_pmd() / move_normal_pud(): the table itself changes place, if the new entry is empty
function moveEntry(mm: Mm, oldSlot: number, newSlot: number): boolean {
  if (mm.pt.read(newSlot) !== 0n) return false;
  mm.pt.write(newSlot, mm.pt.read(oldSlot));
  mm.pt.write(oldSlot, 0n);
  return true;
}

// move_huge_pmd(): a THP's pmd moves whole, soft-dirty (move_soft_dirty_pmd())
function moveHugePmd(mm: Mm, oldSlot: number, newSlot: number, clearUffdWp: boolean): boolean {
  const pg = mm.pg;
  if (mm.pt.read(newSlot) !== 0n) return false;
  const pmd = mm.pt.read(oldSlot);
  mm.pt.write(oldSlot, 0n);
  const present = pg.pmdPresent(pmd);
  const moved = present ? pg.pteMksoftDirty(pmd) : pg.pteSwpMksoftDirty(pmd);
  mm.pt.write(newSlot, clearUffdWp ? uffdWpCleared(mm, moved, present) : moved);
  return true;
}

// move_ptes(): entries become soft-dirty (move_soft_dirty_pte()); without the userfaultfd they lose uffd-wp, markers dropped (0cef0bb836e3).
// 7.2 moves a contiguous block's batch in one go (mremap_folio_pte_batch()); set_ptes() refolds what lands aligned. Called through sys.fn.
export function movePtes(mm: Mm, oldAddr: bigint, newAddr: bigint, extent: bigint, clearUffdWp: boolean): void {
  const pg = mm.pg;
  const arch = mm.arch;
  const total = Number(extent / PAGE);
  const oldSlot = mm.pt.pteSlot(oldAddr, false)!;
  for (let i = 0, nr = 1; i < total; i += nr) {
    nr = 1;
    const s = oldSlot + i * 8;
    const pte = arch.ptepGet(s);
    if (pte === 0n) continue;
    const present = pg.ptePresent(pte);
    if (present && mm.sys.cfg.kernel.mremapPteBatch && total - i > 1 && arch.pteBatchHint(s, pte) !== 1) {
      nr = folioPteBatch(mm, mm.vmNormalFolio(pte), s, pte, total - i, { respectWrite: true });
    }
    const old = arch.getAndClearFullPtes(s, nr);
    if (clearUffdWp && pg.pteMarkerUffdWp(old)) continue;
    const moved = present ? pg.pteMksoftDirty(old) : pg.pteSwpMksoftDirty(old);
    arch.setPtes(mm.pt.pteSlot(newAddr + BigInt(i) * PAGE, true)!, clearUffdWp ? uffdWpCleared(mm, moved, present) : moved, nr);
  }
}

function uffdWpCleared(mm: Mm, e: Pte, present: boolean): Pte {
  return present ? mm.pg.pteClearUffdWp(e) : mm.pg.pteSwpClearUffdWp(e);
}

// move_hugetlb_page_tables() -> move_huge_pte(): huge page by huge page, not made soft-dirty
function moveHugetlbPageTables(mm: Mm, pmc: MoveControl): void {
  const clearUffdWp = uffdWithoutEventRemap(pmc.old);
  for (let off = 0n; off < pmc.lenIn; off += HPAGE_SIZE) {
    const src = mm.pt.pmdSlot(pmc.oldAddr + off, false);
    if (src === null) continue;
    const pte = mm.pt.read(src);
    if (pte === 0n) continue;
    mm.pt.write(src, 0n);
    // huge_pte_alloc() at the new place; a uffd-wp marker is dropped with the rest of uffd-wp
    const dst = mm.pt.pmdSlot(pmc.newAddr + off, true)!;
    if (clearUffdWp && mm.pg.pteMarkerUffdWp(pte)) continue;
    mm.pt.write(dst, clearUffdWp ? uffdWpCleared(mm, pte, mm.pg.pmdPresent(pte)) : pte);
  }
}
