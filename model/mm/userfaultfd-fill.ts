// The userfaultfd ioctls that fill holes (mm/userfaultfd.c: userfaultfd_copy(),
// userfaultfd_zeropage(), userfaultfd_continue(), userfaultfd_poison() and
// mfill_atomic()): a page at a time into a registered area, then a wake of
// the range's waiters unless DONTWAKE. UFFDIO_COPY makes a new page: in an
// anonymous or private file area an anonymous one, in a shared shmem area a
// page of the file's cache (shmem_uffd_ops). UFFDIO_ZEROPAGE maps the zero
// page, or in a shared shmem area adds a zeroed page to the cache.
// UFFDIO_CONTINUE maps the page the cache holds already (read-only in a
// private area). UFFDIO_POISON puts a poison marker: an access is SIGBUS.
// hugetlb areas take whole huge pages (mfill_atomic_hugetlb(),
// hugetlb_mfill_atomic_pte()), and have no UFFDIO_ZEROPAGE (EINVAL). Not
// modelled: a source that waits on a userfaultfd itself, hardware-poisoned
// pages (EIO), shmem THP.

import { Errno } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import type { Pte } from '../arm64/pgtable.ts';
import { isPoisonMarkerEntry, PTE_MARKER_POISONED } from '../arm64/swapops.ts';
import { newAnonFolio } from './fault.ts';
import { HPAGE_SIZE, hugetlbMfillAtomicPte } from './hugetlb.ts';
import type { Mm } from './mm.ts';
import { type Folio, PAGE_SIZE } from './physmem.ts';
import { shmemGetFolioNoalloc, shmemMfillFilemapAdd, shmemMfillFilemapRemove, shmemMfillFolioAlloc } from './shmem.ts';
import { readUser } from './user-access.ts';
import { badRange, badUnalignedRange, type UffdCtx, wakeUserfault } from './userfaultfd.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** The ioctl's failure (null: it returned 0), and the progress field (bytes done or -errno) where the kernel wrote it. */
export interface FillResult {
  readonly error: Errno | null;
  readonly progress: bigint | null;
}

type Mode = 'copy' | 'zeropage' | 'continue' | 'poison';

// pte_is_uffd_marker(): a uffd-wp or poison marker, which UFFDIO_COPY and CONTINUE may overwrite (a guard marker not)
function isUffdMarker(mm: Mm, pte: Pte): boolean {
  const pg = mm.pg;
  return pg.isPteMarker(pte) && (pg.pteMarkerUffdWp(pte) || isPoisonMarkerEntry(pg.pteToSwpEntry(pte)));
}

// mfill_establish_pmd(): the pte table under dst, or EEXIST where a huge pmd maps it
function establishPmd(mm: Mm, dst: bigint): number | Errno {
  mm.pt.pmdSlot(dst, true);
  const slot = mm.pt.pteSlot(dst, true);
  return slot === null ? new Errno('EEXIST') : slot;
}

// mfill_file_over_size(): dst is past the end of the area's file
function fileOverSize(vma: Vma, dst: bigint): boolean {
  if (!vma.file) return false;
  return vma.pageIndex(dst) >= (vma.file.size + PAGE - 1n) / PAGE;
}

/**
 * mfill_atomic_install_pte(): f's page at dst, dirty, writable where the
 * area is unless it is a cache page in a private area; over an empty pte
 * or a uffd marker only (EEXIST), within the file (EFAULT). A cache page
 * gains a mapping; a new anonymous page is this area's own.
 */
function installPte(mm: Mm, vma: Vma, slot: number, dst: bigint, f: Folio, inCache: boolean, wp: boolean): Errno | null {
  const pg = mm.pg;
  let writable = (vma.flags & V.VM_WRITE) !== 0;
  if (inCache && !(vma.flags & V.VM_SHARED)) writable = false;
  let entry = pg.pteMkdirty(pg.pfnPte(f.pfn, vma.pageProt));
  if (writable) entry = pg.pteMkwrite(entry);
  if (wp) entry = pg.pteMkuffdWp(entry);
  if (fileOverSize(vma, dst)) return new Errno('EFAULT');
  const orig = mm.pt.read(slot);
  // a uffd-wp marker may be overwritten: MISSING|WP, an empty pte protected first
  if (!pg.pteNone(orig) && !isUffdMarker(mm, orig)) return new Errno('EEXIST');
  if (inCache) f.addMapcount(0, 1);
  else f.setMapcount(0, 1);
  mm.arch.setPteAt(slot, entry);
  return null;
}

/** copy_from_user() of a page from src: its bytes, or EFAULT */
function copyPage(mm: Mm, src: bigint): Uint8Array | Errno {
  const data = new Uint8Array(PAGE_SIZE);
  const r = readUser(mm, src, data);
  if (r !== null && 'waiter' in r) throw new Error('userfaultfd: UFFDIO_COPY from a source that waits on a userfaultfd is not modelled');
  return r === null ? data : new Errno('EFAULT');
}

/**
 * __mfill_atomic_pte() with shmem_uffd_ops (7.2): a new page of the file's
 * cache (none past its end: ENOMEM), its content copied (`data`) or zeroed
 * (null), added to the cache (EEXIST where it holds the index), then
 * mapped; taken out of the cache again if that fails. Before vm_uffd_ops,
 * shmem_mfill_atomic_pte() copies first (faulting the source in) and finds
 * the file's end after: EFAULT (measured on the host's 6.18: the source
 * page is mapped after the failed copy).
 */
function mfillShmem(mm: Mm, vma: Vma, slot: number, dst: bigint, data: (() => Uint8Array | Errno) | null, wp: boolean): Errno | null {
  const inode = vma.file!;
  const uffdOps = mm.sys.cfg.kernel.uffdOps;
  const copied = () => (data ? data() : null);
  const early = uffdOps ? null : copied();
  if (early instanceof Errno) return early;
  const f = shmemMfillFolioAlloc(mm.sys, inode, vma.pageIndex(dst));
  if (!f) return new Errno(uffdOps ? 'ENOMEM' : 'EFAULT');
  const bytes = uffdOps ? copied() : early;
  if (bytes instanceof Errno) {
    mm.sys.phys.free(f);
    return bytes;
  }
  if (bytes) mm.sys.phys.setPageData(f.pfn, bytes);
  let err = shmemMfillFilemapAdd(inode, f);
  if (!err) {
    err = installPte(mm, vma, slot, dst, f, true, wp);
    if (err) shmemMfillFilemapRemove(inode, f);
  }
  if (err) mm.sys.phys.free(f);
  return err;
}

// mfill_atomic_pte_copy(): a private file area is filled with anonymous memory, as its fault's COW would
function mfillAtomicPteCopy(mm: Mm, srcMm: Mm, vma: Vma, slot: number, dst: bigint, src: bigint, wp: boolean): Errno | null {
  if (vma.flags & V.VM_SHARED) return mfillShmem(mm, vma, slot, dst, () => copyPage(srcMm, src), wp);
  // anon_uffd_ops: the page, the copy, then the install's checks (made here before allocating: the same errors)
  const data = copyPage(srcMm, src);
  if (data instanceof Errno) return data;
  if (fileOverSize(vma, dst)) return new Errno('EFAULT');
  const orig = mm.pt.read(slot);
  if (!mm.pg.pteNone(orig) && !isUffdMarker(mm, orig)) return new Errno('EEXIST');
  const f = newAnonFolio(mm, vma, 0);
  mm.sys.phys.setPageData(f.pfn, data);
  return installPte(mm, vma, slot, dst, f, false, wp);
}

// mfill_atomic_pte_zeropage(): the zero page over an empty pte only (not over a marker); a shared area gets a zeroed cache page
function mfillAtomicPteZeropage(mm: Mm, vma: Vma, slot: number, dst: bigint): Errno | null {
  if (vma.flags & V.VM_SHARED) return mfillShmem(mm, vma, slot, dst, null, false);
  if (fileOverSize(vma, dst)) return new Errno('EFAULT');
  if (!mm.pg.pteNone(mm.pt.read(slot))) return new Errno('EEXIST');
  mm.arch.setPteAt(slot, mm.pg.pteMkspecial(mm.pg.pfnPte(mm.sys.phys.zeroPfn, vma.pageProt)));
  return null;
}

// mfill_atomic_pte_continue(): the cached page (a hole or past the end: EFAULT; 6.12 says EINVAL past the end)
function mfillAtomicPteContinue(mm: Mm, vma: Vma, slot: number, dst: bigint, wp: boolean): Errno | null {
  const f = shmemGetFolioNoalloc(mm.sys, vma.file!, vma.pageIndex(dst));
  if (f instanceof Errno) return new Errno(f.name === 'EINVAL' && !mm.sys.cfg.kernel.uffdOps ? 'EINVAL' : 'EFAULT');
  return installPte(mm, vma, slot, dst, f, true, wp);
}

// mfill_atomic_pte_poison(): a poison marker, over an empty pte only (not even a marker)
function mfillAtomicPtePoison(mm: Mm, vma: Vma, slot: number, dst: bigint): Errno | null {
  if (fileOverSize(vma, dst)) return new Errno('EFAULT');
  if (!mm.pg.pteNone(mm.pt.read(slot))) return new Errno('EEXIST');
  mm.arch.setPteAt(slot, mm.pg.makePteMarker(PTE_MARKER_POISONED));
  return null;
}

// mfill_atomic_hugetlb(): whole huge pages (EINVAL otherwise, and for ZEROPAGE)
function mfillAtomicHugetlb(mm: Mm, srcMm: Mm, vma: Vma, dst: bigint, src: bigint, len: bigint, mode: Mode, wp: boolean): bigint | Errno {
  if (mode === 'zeropage') return new Errno('EINVAL');
  if ((dst | len) & (HPAGE_SIZE - 1n)) return new Errno('EINVAL');
  let done = 0n;
  while (done < len) {
    const at = dst + done;
    const slot = mm.pt.pmdSlot(at, true)!; // huge_pte_alloc()
    let err: Errno | null = null;
    if (mode !== 'continue') {
      const pte = mm.pt.read(slot);
      if (pte !== 0n && !isUffdMarker(mm, pte)) err = new Errno('EEXIST');
    }
    if (!err) {
      const from = src + done;
      // copy_folio_from_user(): the huge page's 512 pages, null for those that read as zeroes
      const copy = (): (Uint8Array | null)[] | Errno => {
        const pages: (Uint8Array | null)[] = [];
        for (let i = 0n; i < HPAGE_SIZE / PAGE; i++) {
          const p = copyPage(srcMm, from + i * PAGE);
          if (p instanceof Errno) return p;
          pages.push(p.some((b) => b !== 0) ? p : null);
        }
        return pages;
      };
      err = hugetlbMfillAtomicPte(mm, vma, slot, at, mode as 'copy' | 'continue' | 'poison', wp, copy);
    }
    if (err) return done > 0n ? done : err;
    done += HPAGE_SIZE;
  }
  return done;
}

// mfill_atomic(): bytes filled, or the error the first page met
function mfillAtomic(mm: Mm, srcMm: Mm, dst: bigint, src: bigint, len: bigint, mode: Mode, wp: boolean): bigint | Errno {
  // mfill_get_vma() -> uffd_mfill_lock(): the area holding dst, registered, holding the whole range; a private one gets its anon_vma
  const vma = mm.vmas.lookup(dst);
  if (!vma) return new Errno('ENOENT');
  if (!(vma.flags & V.VM_SHARED)) vma.anonVma ??= mm.sys.newAnonVma();
  if (dst + len > vma.end || !vma.uffdCtx) return new Errno('ENOENT');
  // a write-protected fill needs an area registered for uffd-wp
  if (wp && !(vma.flags & V.VM_UFFD_WP)) return new Errno('EINVAL');
  if (vma.flags & V.VM_HUGETLB) return mfillAtomicHugetlb(mm, srcMm, vma, dst, src, len, mode, wp);
  // anon_uffd_ops has no get_folio_noalloc(): no UFFDIO_CONTINUE into anonymous memory
  if (mode === 'continue' && vma.isAnonymous) return new Errno('EINVAL');
  let done = 0n;
  while (done < len) {
    const at = dst + done;
    const slot = establishPmd(mm, at);
    let err: Errno | null;
    if (slot instanceof Errno) err = slot;
    else if (mode === 'copy') err = mfillAtomicPteCopy(mm, srcMm, vma, slot, at, src + done, wp);
    else if (mode === 'zeropage') err = mfillAtomicPteZeropage(mm, vma, slot, at);
    else if (mode === 'continue') err = mfillAtomicPteContinue(mm, vma, slot, at, wp);
    else err = mfillAtomicPtePoison(mm, vma, slot, at);
    if (err) return done > 0n ? done : err;
    done += PAGE;
  }
  return done;
}

/** The modes each ioctl takes: its DONTWAKE, and WP for COPY and CONTINUE */
const MODES: Record<Mode, { dontwake: bigint; wp: bigint }> = {
  copy: { dontwake: U.UFFDIO_COPY_MODE_DONTWAKE, wp: U.UFFDIO_COPY_MODE_WP },
  zeropage: { dontwake: U.UFFDIO_ZEROPAGE_MODE_DONTWAKE, wp: 0n },
  continue: { dontwake: U.UFFDIO_CONTINUE_MODE_DONTWAKE, wp: U.UFFDIO_CONTINUE_MODE_WP },
  poison: { dontwake: U.UFFDIO_POISON_MODE_DONTWAKE, wp: 0n },
};

/** userfaultfd_copy(), _zeropage(), _continue() and _poison(): mfill_atomic(), then a wake of what was filled unless DONTWAKE */
function fill(mm: Mm, srcMm: Mm, ctx: UffdCtx, mode: Mode, dst: bigint, src: bigint, len: bigint, flags: bigint): FillResult {
  const fail = (name: U.ErrnoName) => ({ error: new Errno(name, 'ioctl'), progress: null });
  if (!ctx.ready) return fail('EINVAL');
  // a non-cooperative event not yet read: retry later, the argument's field says so too
  if (ctx.mmapChanging) return { error: new Errno('EAGAIN', 'ioctl'), progress: -BigInt(new Errno('EAGAIN').code) };
  if (mode === 'copy' && badUnalignedRange(src, len)) return fail('EINVAL');
  if (badRange(dst, len)) return fail('EINVAL');
  const { dontwake, wp } = MODES[mode];
  if (flags & ~(dontwake | wp)) return fail('EINVAL');
  const r = mfillAtomic(mm, srcMm, dst, src, len, mode, wp !== 0n && (flags & wp) !== 0n);
  if (r instanceof Errno) return { error: new Errno(r.name, 'ioctl'), progress: -BigInt(r.code) };
  if (!(flags & dontwake)) wakeUserfault(ctx, dst, r);
  return { error: r === len ? null : new Errno('EAGAIN', 'ioctl'), progress: r };
}

// userfaultfd_copy(): into ctx->mm (`mm`), from the calling process's memory (`srcMm`: copy_from_user())
export function uffdioCopy(mm: Mm, srcMm: Mm, ctx: UffdCtx, dst: bigint, src: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, srcMm, ctx, 'copy', dst, src, len, mode);
}

// userfaultfd_zeropage()
export function uffdioZeropage(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, mm, ctx, 'zeropage', start, 0n, len, mode);
}

// userfaultfd_continue()
export function uffdioContinue(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, mm, ctx, 'continue', start, 0n, len, mode);
}

// userfaultfd_poison()
export function uffdioPoison(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, mm, ctx, 'poison', start, 0n, len, mode);
}
