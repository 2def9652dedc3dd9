// userfaultfd (fs/userfaultfd.c, mm/userfaultfd.c) in write-protect mode
// over anonymous, shmem (shared and private) and hugetlb memory: UFFDIO_API,
// UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_WP, UFFDIO_WRITEPROTECT (markers in empty ptes with
// UFFD_FEATURE_WP_UNPOPULATED) and the release of the descriptor. A write to
// a write-protected page is resolved in the kernel when the context has
// UFFD_FEATURE_WP_ASYNC. Areas are anonymous, shmem or hugetlb (where
// markers are always used: vma_can_userfault() takes every shmem area). A
// handler that reads fault messages (sync mode, MISSING and MINOR modes) is
// not modelled: asking for one fails loudly rather than doing something else.

import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { HPAGE_SIZE } from './hugetlb.ts';
import type { Mm } from './mm.ts';
import { changeProtection } from './mprotect.ts';
import { PAGE_SIZE } from './physmem.ts';
import * as V from './vma.ts';
import type { UffdContext, Vma } from './vma.ts';
import { modifyFlags } from './vma-ops.ts';

const PAGE = BigInt(PAGE_SIZE);
const TASK_SIZE = 1n << 48n;
/** UFFD_API_FEATURES: measured (UFFDIO_API with no features) on Debian's 6.12 and 7.2 arm64 kernels */
const UFFD_API_FEATURES = 0x1ffffn;
/** the features that need the arch's uffd-wp bit (HAVE_ARCH_USERFAULTFD_WP) */
const WP_FEATURES = U.UFFD_FEATURE_PAGEFAULT_FLAG_WP | (1n << 12n) /* WP_HUGETLBFS_SHMEM */ | U.UFFD_FEATURE_WP_UNPOPULATED | U.UFFD_FEATURE_WP_ASYNC;
/** UFFD_API_IOCTLS: REGISTER, UNREGISTER, API */
const UFFD_API_IOCTLS = (1n << 63n) | 3n;
/** what UFFDIO_REGISTER answers for a write-protected anonymous range (WAKE, COPY, ZEROPAGE, MOVE, WRITEPROTECT, POISON; measured) */
const UFFD_WP_RANGE_IOCTLS = 0x17cn;
/** the same for a range with hugetlb in it: no ZEROPAGE or MOVE (measured) */
const UFFD_WP_RANGE_IOCTLS_BASIC = 0x14cn;
const UFFDIO_REGISTER_MODE_MISSING = 1n;
const UFFDIO_REGISTER_MODE_MINOR = 4n;
const UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 2n;

/** struct userfaultfd_ctx */
export class UffdCtx implements UffdContext {
  features = 0n;
  /** UFFDIO_API done: the context is usable */
  ready = false;
}

// userfaultfd_api()
export function uffdioApi(mm: Mm, ctx: UffdCtx, api: bigint, features: bigint): Ret<{ features: bigint; ioctls: bigint }> {
  const supported = mm.pg.hasUffdWp ? UFFD_API_FEATURES : UFFD_API_FEATURES & ~WP_FEATURES;
  if (ctx.ready || api !== U.UFFD_API || features & ~supported) return new Errno('EINVAL', 'ioctl');
  // "WP_ASYNC relies on WP_UNPOPULATED, choose it unconditionally"
  ctx.features = features & U.UFFD_FEATURE_WP_ASYNC ? features | U.UFFD_FEATURE_WP_UNPOPULATED : features;
  ctx.ready = true;
  return { features: supported, ioctls: UFFD_API_IOCTLS };
}

/** validate_range(): page-aligned, not empty, inside the address space */
function badRange(start: bigint, len: bigint): boolean {
  return start % PAGE !== 0n || len % PAGE !== 0n || len === 0n || start + len > TASK_SIZE;
}

// userfaultfd_register(): WP mode only
export function uffdioRegister(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): Ret<{ ioctls: bigint }> {
  if (!ctx.ready || mode === 0n || mode & ~(UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MINOR)) return new Errno('EINVAL', 'ioctl');
  if (mode & U.UFFDIO_REGISTER_MODE_WP && !mm.pg.hasUffdWp) return new Errno('EINVAL', 'ioctl');
  if (mode !== U.UFFDIO_REGISTER_MODE_WP) throw new Error('userfaultfd: only UFFDIO_REGISTER_MODE_WP is modelled (no MISSING or MINOR faults)');
  if (badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('EINVAL', 'ioctl'); // measured: no area in the range
  // a hugetlb area from and to huge page boundaries (measured: EINVAL)
  if (areas[0]!.flags & V.VM_HUGETLB && start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
  for (const v of areas) {
    if (v.flags & V.VM_HUGETLB && end <= v.end && end > v.start && end & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
    // another context's area is busy
    if (v.uffdCtx && v.uffdCtx !== ctx) return new Errno('EBUSY', 'ioctl');
  }
  for (const v of areas) {
    const lo = v.start > start ? v.start : start;
    const hi = v.end < end ? v.end : end;
    const area = modifyFlags(mm, v, lo, hi, v.flags | V.VM_UFFD_WP, ctx);
    if (area instanceof Errno) return new Errno(area.name, 'ioctl');
    mm.vmaSetPageProt(area);
  }
  // UFFD_API_RANGE_IOCTLS_BASIC where a hugetlb area is in the range
  return { ioctls: areas.some((v) => v.flags & V.VM_HUGETLB) ? UFFD_WP_RANGE_IOCTLS_BASIC : UFFD_WP_RANGE_IOCTLS };
}

// userfaultfd_writeprotect() -> mwriteprotect_range(): area by area, holes passed over; the first
// area not registered for uffd-wp (or a hugetlb one cut off a huge page) ends it, with what came before done
export function uffdioWriteprotect(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint, mode: bigint): Ret<0> {
  if (!ctx.ready || badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  if (mode & ~(U.UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE)) return new Errno('EINVAL', 'ioctl');
  if (mode === (U.UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('ENOENT', 'ioctl');
  for (const v of areas) {
    if (!(v.flags & V.VM_UFFD_WP)) return new Errno('ENOENT', 'ioctl');
    if (v.flags & V.VM_HUGETLB && (start | len) & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
    uffdWpRange(mm, v, v.start > start ? v.start : start, v.end < end ? v.end : end, (mode & U.UFFDIO_WRITEPROTECT_MODE_WP) !== 0n);
  }
  return 0;
}

// uffd_wp_range()
export function uffdWpRange(mm: Mm, vma: Vma, start: bigint, end: bigint, enable: boolean): void {
  const prot = enable ? mm.pageProtFor(vma.flags & ~V.VM_WRITE) : vma.pageProt;
  const tryChangeWritable = !enable && mm.vmaWantsManualPteWriteUpgrade(vma);
  changeProtection(mm, vma, start, end, tryChangeWritable, enable ? 'wp' : 'resolve', prot);
}

// userfaultfd_clear_vma(): [start, end) of an area leaves its context, write protection reset first
function clearVma(mm: Mm, v: Vma, start: bigint, end: bigint): Errno | null {
  if (v.flags & V.VM_UFFD_WP) uffdWpRange(mm, v, start, end, false);
  const area = modifyFlags(mm, v, start, end, v.flags & ~V.VM_UFFD_WP, null);
  if (area instanceof Errno) return area;
  mm.vmaSetPageProt(area);
  return null;
}

// userfaultfd_unregister()
export function uffdioUnregister(mm: Mm, ctx: UffdCtx, start: bigint, len: bigint): Ret<0> {
  // userfaultfd_ioctl(): every ioctl but UFFDIO_API needs an initialised context
  if (!ctx.ready || badRange(start, len)) return new Errno('EINVAL', 'ioctl');
  const end = start + len;
  const areas = mm.vmas.overlapping(start, end);
  if (areas.length === 0) return new Errno('EINVAL', 'ioctl');
  // the first area, if hugetlb, from a huge page boundary
  if (areas[0]!.flags & V.VM_HUGETLB && start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'ioctl');
  // only through the context that registered them, where the kernel checks (every area here could be registered)
  if (mm.sys.cfg.kernel.uffdUnregisterOwnCtxOnly && areas.some((v) => v.uffdCtx && v.uffdCtx !== ctx)) return new Errno('EINVAL', 'ioctl');
  for (const v of areas) {
    if (!v.uffdCtx) continue;
    const err = clearVma(mm, v, v.start > start ? v.start : start, v.end < end ? v.end : end);
    if (err) return new Errno(err.name, 'ioctl');
  }
  return 0;
}

// userfaultfd_release(): every area of the context leaves it
export function userfaultfdRelease(mm: Mm, ctx: UffdCtx): void {
  // the whole area: nothing to cut, so nothing fails
  for (const v of [...mm.vmas.all()].filter((x) => x.uffdCtx === ctx)) clearVma(mm, v, v.start, v.end);
}
