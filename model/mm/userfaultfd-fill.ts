// UFFDIO_COPY and UFFDIO_ZEROPAGE (mm/userfaultfd.c: userfaultfd_copy(),
// userfaultfd_zeropage() and mfill_atomic()): pages put into the holes of
// a registered area, a page at a time, and the waiters of the range woken.
// Anonymous areas (and private file areas, whose filled pages are
// anonymous); the shmem page cache and hugetlb are not modelled yet.

import { Errno } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { newAnonFolio } from './fault.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
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

type Mode = 'copy' | 'zeropage';

// mfill_establish_pmd(): the pte table under dst, or EEXIST where a huge pmd maps it
function establishPmd(mm: Mm, dst: bigint): number | Errno {
  mm.pt.pmdSlot(dst, true);
  const slot = mm.pt.pteSlot(dst, true);
  return slot === null ? new Errno('EEXIST') : slot;
}

// mfill_atomic_install_pte() for a new anonymous page
function installAnonPte(mm: Mm, vma: Vma, slot: number, data: Uint8Array, wp: boolean): Errno | null {
  const pg = mm.pg;
  const orig = mm.pt.read(slot);
  // a uffd-wp marker may be overwritten: MISSING|WP, an empty pte protected first
  if (!pg.pteNone(orig) && !pg.pteMarkerUffdWp(orig)) return new Errno('EEXIST');
  const f = newAnonFolio(mm, vma, 0);
  mm.sys.phys.setPageData(f.pfn, data);
  f.setMapcount(0, 1);
  let entry = pg.pteMkdirty(pg.pfnPte(f.pfn, vma.pageProt));
  if (vma.flags & V.VM_WRITE) entry = pg.pteMkwrite(entry);
  if (wp) entry = pg.pteMkuffdWp(entry);
  mm.arch.setPteAt(slot, entry);
  return null;
}

// mfill_atomic(): bytes filled, or the error the first page met
function mfillAtomic(mm: Mm, dst: bigint, src: bigint, len: bigint, mode: Mode, wp: boolean): bigint | Errno {
  // uffd_mfill_lock(): the area holding dst, registered, holding the whole range; a private one gets its anon_vma
  const vma = mm.vmas.lookup(dst);
  if (!vma) return new Errno('ENOENT');
  if (!(vma.flags & V.VM_SHARED)) vma.anonVma ??= mm.sys.newAnonVma();
  if (dst + len > vma.end || !vma.uffdCtx) return new Errno('ENOENT');
  if (wp && !(vma.flags & V.VM_UFFD_WP)) return new Errno('EINVAL');
  if (vma.flags & V.VM_HUGETLB) throw new Error('userfaultfd: UFFDIO_COPY and UFFDIO_ZEROPAGE into hugetlb areas are not modelled yet');
  if (vma.flags & V.VM_SHARED) throw new Error('userfaultfd: UFFDIO_COPY and UFFDIO_ZEROPAGE into shared file areas (the page cache) are not modelled yet');
  let done = 0n;
  while (done < len) {
    const at = dst + done;
    const slot = establishPmd(mm, at);
    let err: Errno | null;
    if (slot instanceof Errno) err = slot;
    else if (mode === 'zeropage') {
      // mfill_atomic_pte_zeropage(): the zero page, over an empty pte only
      if (!mm.pg.pteNone(mm.pt.read(slot))) err = new Errno('EEXIST');
      else {
        mm.arch.setPteAt(slot, mm.pg.pteMkspecial(mm.pg.pfnPte(mm.sys.phys.zeroPfn, vma.pageProt)));
        err = null;
      }
    } else {
      // mfill_copy_folio_locked(), then copy_from_user() with faults allowed
      const data = new Uint8Array(PAGE_SIZE);
      const r = readUser(mm, src + done, data);
      if (r !== null && 'waiter' in r) throw new Error('userfaultfd: UFFDIO_COPY from a source that waits on a userfaultfd is not modelled');
      err = r === null ? installAnonPte(mm, vma, slot, data, wp) : new Errno('EFAULT');
    }
    if (err) return done > 0n ? done : err;
    done += PAGE;
  }
  return done;
}

/** userfaultfd_copy() and userfaultfd_zeropage(): mfill_atomic(), then a wake of what was filled unless DONTWAKE */
function fill(mm: Mm, ctx: UffdCtx, mode: Mode, dst: bigint, src: bigint, len: bigint, flags: bigint): FillResult {
  const fail = (name: U.ErrnoName) => ({ error: new Errno(name, 'ioctl'), progress: null });
  if (!ctx.ready) return fail('EINVAL');
  if (mode === 'copy' && badUnalignedRange(src, len)) return fail('EINVAL');
  if (badRange(dst, len)) return fail('EINVAL');
  const dontwake = mode === 'copy' ? U.UFFDIO_COPY_MODE_DONTWAKE : U.UFFDIO_ZEROPAGE_MODE_DONTWAKE;
  const allowed = mode === 'copy' ? dontwake | U.UFFDIO_COPY_MODE_WP : dontwake;
  if (flags & ~allowed) return fail('EINVAL');
  const r = mfillAtomic(mm, dst, src, len, mode, mode === 'copy' && (flags & U.UFFDIO_COPY_MODE_WP) !== 0n);
  if (r instanceof Errno) return { error: new Errno(r.name, 'ioctl'), progress: -BigInt(r.code) };
  if (!(flags & dontwake)) wakeUserfault(ctx, dst, r);
  return { error: r === len ? null : new Errno('EAGAIN', 'ioctl'), progress: r };
}

// userfaultfd_copy()
export function uffdioCopy(mm: Mm, ctx: UffdCtx, dst: bigint, src: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, ctx, 'copy', dst, src, len, mode);
}

// userfaultfd_zeropage()
export function uffdioZeropage(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): FillResult {
  return fill(mm, ctx, 'zeropage', start, 0n, len, mode);
}
