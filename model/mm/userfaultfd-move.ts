// UFFDIO_MOVE (mm/userfaultfd.c: userfaultfd_move(), move_pages(),
// move_pages_ptes(); mm/huge_memory.c: move_pages_huge_pmd()): anonymous
// pages taken from one place of the address space and mapped at another
// without a copy. Private anonymous areas only, with the same protection,
// the destination registered with this context. A destination holding
// anything is EEXIST; a hole in the source ENOENT unless
// UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES (then counted as moved); a page
// another mapping shares (not PageAnonExclusive) EBUSY. A THP moves as a
// whole pmd where source and destination are PMD-aligned, at least a PMD
// is left to move and the destination pmd is empty; otherwise the source
// pmd is split, then the folio, and the pages move one pte at a time.
// Not modelled: pinned pages (EBUSY), swap-cache folios, a move between
// address spaces.

import { Errno } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import { PMD_MASK, PMD_SIZE } from './pgtables.ts';
import { splitAnonFolio } from './split-folio.ts';
import { badRange, type UffdCtx, wakeUserfault } from './userfaultfd.ts';
import type { FillResult } from './userfaultfd-fill.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);
const VM_ACCESS_FLAGS = V.VM_READ | V.VM_WRITE | V.VM_EXEC;

/** pmd_trans_huge(): a present huge leaf at the pmd */
const pmdTransHuge = (mm: Mm, pmd: bigint) => pmd !== 0n && !mm.pt.pmdIsTable(pmd) && mm.pg.pmdPresent(pmd);

// vma_move_compatible() (the model has no VM_IO or shadow stack areas)
const vmaMoveCompatible = (vma: Vma) => !(vma.flags & (V.VM_PFNMAP | V.VM_HUGETLB | V.VM_MIXEDMAP));

// validate_move_areas(): the same access, protection and mlock, writable, plain memory, the destination ours, both anonymous
function validateMoveAreas(ctx: UffdCtx, src: Vma, dst: Vma): Errno | null {
  if ((src.flags & VM_ACCESS_FLAGS) !== (dst.flags & VM_ACCESS_FLAGS) || src.pageProt !== dst.pageProt) return new Errno('EINVAL');
  if ((src.flags & V.VM_LOCKED) !== (dst.flags & V.VM_LOCKED)) return new Errno('EINVAL');
  if (!(src.flags & V.VM_WRITE)) return new Errno('EINVAL');
  if (!vmaMoveCompatible(src) || !vmaMoveCompatible(dst)) return new Errno('EINVAL');
  if (dst.uffdCtx !== ctx) return new Errno('EINVAL');
  if (!src.isAnonymous || !dst.isAnonymous) return new Errno('EINVAL');
  return null;
}

// move_splits_huge_pmd(): a pmd moves whole only from and to PMD boundaries, with a whole PMD left to move
const moveSplitsHugePmd = (dst: bigint, src: bigint, srcEnd: bigint) => (src & ~PMD_MASK) !== 0n || (dst & ~PMD_MASK) !== 0n || srcEnd - src < PMD_SIZE;

/**
 * move_pages_huge_pmd(): the source's huge pmd becomes the destination's
 * (empty) one. A THP must be this mapping's alone (EBUSY); it is mapped
 * with the destination's protection, dirty and writable; the huge zero
 * pmd keeps its bits, soft-dirty set and uffd-wp cleared.
 */
function movePagesHugePmd(mm: Mm, dstVma: Vma, dstSlot: number, srcSlot: number): Errno | null {
  const pg = mm.pg;
  const src = mm.pt.read(srcSlot);
  const pfn = pg.pmdPfn(src);
  let entry: bigint;
  if (mm.sys.phys.isZeroPfn(pfn)) {
    // move_soft_dirty_pmd(), clear_uffd_wp_pmd()
    entry = pg.pteClearUffdWp(pg.hasSoftDirty ? pg.pteMksoftDirty(src) : src);
  } else {
    const f = mm.sys.phys.folioOf(pfn);
    if (!f || !f.anon || !f.exclusive(0)) return new Errno('EBUSY');
    // folio_mk_pmd() with the destination's protection; "treat the entry dirty after the move", as mremap() does
    entry = pg.pteMkwrite(pg.pteMkdirty(pg.pmdMkhuge(pg.pfnPte(pfn, dstVma.pageProt))));
  }
  mm.pt.write(srcSlot, 0n); // pmdp_huge_clear_flush()
  mm.pt.write(dstSlot, entry);
  return null;
}

/**
 * move_present_ptes(): the source's page at dst, then the pages after it
 * up to the pmd's end while each is a small page of its own
 * (check_ptes_for_batched_move()) and its destination empty. Each gets the
 * destination's protection, soft-dirty (where the page tables have it),
 * the source's dirty bit, and write. Returns the bytes moved.
 */
function movePresentPtes(mm: Mm, dstVma: Vma, dst: bigint, src: bigint, len: bigint, dstSlot: number, srcSlot: number): bigint {
  const pg = mm.pg;
  const dstEnd = ((dst & PMD_MASK) + PMD_SIZE < dst + len ? (dst & PMD_MASK) + PMD_SIZE : dst + len) - dst;
  const srcEnd = (src & PMD_MASK) + PMD_SIZE < src + dstEnd ? (src & PMD_MASK) + PMD_SIZE : src + dstEnd;
  let moved = 0n;
  for (;;) {
    const orig = mm.arch.ptepGetAndClear(srcSlot + Number(moved / PAGE) * 8);
    let entry = pg.pfnPte(pg.ptePfn(orig), dstVma.pageProt);
    if (pg.hasSoftDirty) entry = pg.pteMksoftDirty(entry);
    if (pg.pteDirty(orig)) entry = pg.pteMkdirty(entry);
    entry = pg.pteMkwrite(entry);
    mm.arch.setPteAt(dstSlot + Number(moved / PAGE) * 8, entry);
    moved += PAGE;
    if (src + moved === srcEnd) break;
    // check_ptes_for_batched_move()
    const d = mm.pt.read(dstSlot + Number(moved / PAGE) * 8);
    const s = mm.pt.read(srcSlot + Number(moved / PAGE) * 8);
    if (!pg.pteNone(d) || !pg.ptePresent(s) || mm.sys.phys.isZeroPfn(pg.ptePfn(s))) break;
    const f = mm.vmNormalFolio(s);
    if (!f || !f.anon || !f.exclusive(0) || f.nrPages !== 1) break;
  }
  return moved;
}

/**
 * move_pages_ptes(): what the source pte at src holds moves to the empty
 * destination pte at dst. Returns the bytes moved or an error.
 */
function movePagesPtes(mm: Mm, dstVma: Vma, srcVma: Vma, dst: bigint, src: bigint, len: bigint, mode: bigint): bigint | Errno {
  const pg = mm.pg;
  for (;;) {
    const dstSlot = mm.pt.pteSlot(dst, false);
    const srcSlot = mm.pt.pteSlot(src, false);
    if (dstSlot === null || srcSlot === null) return new Errno('EINVAL');
    if (!pg.pteNone(mm.pt.read(dstSlot))) return new Errno('EEXIST');
    const orig = mm.pt.read(srcSlot);
    if (pg.pteNone(orig)) return mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ? PAGE : new Errno('ENOENT');
    if (pg.ptePresent(orig)) {
      if (mm.sys.phys.isZeroPfn(pg.ptePfn(orig))) {
        // move_zeropage_pte()
        mm.arch.ptepGetAndClear(srcSlot);
        mm.arch.setPteAt(dstSlot, pg.pteMkspecial(pg.pfnPte(mm.sys.phys.zeroPfn, dstVma.pageProt)));
        return PAGE;
      }
      const f = mm.vmNormalFolio(orig);
      if (!f || !f.exclusive(0)) return new Errno('EBUSY');
      if (!f.anon) return new Errno('EBUSY');
      if (f.nrPages > 1) {
        // split_folio(), then start over with the page of its own
        splitAnonFolio(mm, srcVma, src - BigInt(f.pageIndex(pg.ptePfn(orig))) * PAGE, f);
        continue;
      }
      return movePresentPtes(mm, dstVma, dst, src, len, dstSlot, srcSlot);
    }
    // a swap entry moves as it is (soft-dirty set); a marker is EFAULT, a page shared in swap EBUSY
    if (!pg.isSwapEntry(pg.pteToSwpEntry(orig))) return new Errno('EFAULT');
    if (!pg.pteSwpExclusive(orig)) return new Errno('EBUSY');
    let entry = mm.arch.ptepGetAndClear(srcSlot);
    if (pg.hasSoftDirty) entry = pg.pteSwpMksoftDirty(entry);
    mm.arch.setPteAt(dstSlot, entry);
    return PAGE;
  }
}

// move_pages(): bytes moved, or the error the first step met
function movePages(mm: Mm, ctx: UffdCtx, dstStart: bigint, srcStart: bigint, len: bigint, mode: bigint): bigint | Errno {
  // uffd_move_lock(): the areas holding dst and src; the destination gets its anon_vma
  const dstVma = mm.vmas.lookup(dstStart);
  if (!dstVma) return new Errno('ENOENT');
  if (!(dstVma.flags & V.VM_SHARED)) dstVma.anonVma ??= mm.sys.newAnonVma();
  const srcVma = srcStart >= dstVma.start && srcStart < dstVma.end ? dstVma : mm.vmas.lookup(srcStart);
  if (!srcVma) return new Errno('ENOENT');
  if (srcVma.flags & V.VM_SHARED || srcStart + len > srcVma.end) return new Errno('EINVAL');
  if (dstVma.flags & V.VM_SHARED || dstStart + len > dstVma.end) return new Errno('EINVAL');
  const bad = validateMoveAreas(ctx, srcVma, dstVma);
  if (bad) return bad;
  const srcEnd = srcStart + len;
  let src = srcStart;
  let dst = dstStart;
  let moved = 0n;
  let err: Errno | null = null;
  while (src < srcEnd) {
    // mm_find_pmd(): no pud table above src is a hole too
    let srcPmdSlot = mm.pt.pmdSlot(src, false);
    if (srcPmdSlot === null) {
      if (!(mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
        err = new Errno('ENOENT');
        break;
      }
      srcPmdSlot = mm.pt.pmdSlot(src, true)!;
    }
    const dstPmdSlot = mm.pt.pmdSlot(dst, true)!;
    const dstPmd = mm.pt.read(dstPmdSlot);
    // a THP at the destination: strict, EEXIST
    if (pmdTransHuge(mm, dstPmd)) {
      err = new Errno('EEXIST');
      break;
    }
    const srcPmd = mm.pt.read(srcPmdSlot);
    let step: bigint;
    if (pmdTransHuge(mm, srcPmd)) {
      if (moveSplitsHugePmd(dst, src, srcEnd) || dstPmd !== 0n) {
        const pfn = mm.pg.pmdPfn(srcPmd);
        const f = mm.sys.phys.isZeroPfn(pfn) ? null : mm.sys.phys.folioOf(pfn);
        if (f && !f.exclusive(0)) {
          err = new Errno('EBUSY');
          break;
        }
        // split_huge_pmd(); move_pages_ptes() splits the folio
        splitHugePmd(mm, src & PMD_MASK);
        continue;
      }
      const r = movePagesHugePmd(mm, dstVma, dstPmdSlot, srcPmdSlot);
      if (r) {
        err = r;
        break;
      }
      step = PMD_SIZE;
    } else {
      if (srcPmd === 0n) {
        if (!(mode & U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES)) {
          err = new Errno('ENOENT');
          break;
        }
        mm.pt.pteSlot(src, true); // __pte_alloc()
      }
      mm.pt.pteSlot(dst, true); // pte_alloc()
      const r = movePagesPtes(mm, dstVma, srcVma, dst, src, srcEnd - src, mode);
      if (r instanceof Errno) {
        err = r;
        break;
      }
      step = r;
    }
    dst += step;
    src += step;
    moved += step;
  }
  return moved > 0n ? moved : err!;
}

/** userfaultfd_move(): move_pages(), then a wake of what was moved unless DONTWAKE */
export function uffdioMove(mm: Mm, ctx: UffdCtx, dst: bigint, src: bigint, len: bigint, mode: bigint): FillResult {
  const fail = (name: U.ErrnoName) => ({ error: new Errno(name, 'ioctl'), progress: null });
  if (!ctx.ready) return fail('EINVAL');
  // a non-cooperative event not yet read: retry later, the argument's field says so too
  if (ctx.mmapChanging) return { error: new Errno('EAGAIN', 'ioctl'), progress: -BigInt(new Errno('EAGAIN').code) };
  if (badRange(dst, len) || badRange(src, len)) return fail('EINVAL');
  if (mode & ~(U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | U.UFFDIO_MOVE_MODE_DONTWAKE)) return fail('EINVAL');
  const r = movePages(mm, ctx, dst, src, len, mode);
  if (r instanceof Errno) return { error: new Errno(r.name, 'ioctl'), progress: -BigInt(r.code) };
  if (!(mode & U.UFFDIO_MOVE_MODE_DONTWAKE)) wakeUserfault(ctx, dst, r);
  return { error: r === len ? null : new Errno('EAGAIN', 'ioctl'), progress: r };
}
