// Mapping and unmapping (mm/mmap.c): mmap() through do_mmap() and
// mmap_region(), the search for room (get_unmapped_area()), MAP_POPULATE,
// munmap(), and the teardown at exit.

import { Errno, type Ret } from '../../uapi/linux.ts';
import { type Blocking, UnmapList } from './userfaultfd.ts';
import * as U from '../../uapi/linux.ts';
import { getUserPage } from './gup.ts';
import { HPAGE_SIZE, hugeAlign, hugetlbReserve, hugetlbSizeOk } from './hugetlb.ts';
import { TASK_SIZE, pageAlign, pageAligned, type Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import { PMD_SIZE } from './pgtables.ts';
import type { Inode } from './shmem.ts';
import * as V from './vma.ts';
import { Vma } from './vma.ts';
import { doMunmap, mergeNew, splitEdges } from './vma-ops.ts';

const PAGE = BigInt(PAGE_SIZE);

/** A file as mmap() sees it: its inode and whether it was opened for writing. */
export interface MappedFile {
  readonly inode: Inode;
  readonly writable: boolean;
}

/** vm_unmapped_area() top-down: the highest gap below mmap_base that fits */
function unmappedArea(mm: Mm, len: bigint, align: bigint): bigint | null {
  let top = mm.mmapBase;
  const areas = mm.vmas.all();
  for (let i = areas.length - 1; i >= -1; i--) {
    const v = areas[i];
    if (v && v.start >= top) continue;
    const gapLo = v ? v.end : PAGE * 16n;
    const hi = (top - len) & ~(align - 1n);
    if (hi >= gapLo && top - gapLo >= len) return hi;
    if (v) top = v.start;
  }
  return null;
}

// __get_unmapped_area(): a hint if free, else top-down; THP-aligned for PMD-sized anonymous areas
export function getUnmappedArea(mm: Mm, addr: bigint, len: bigint, anon: boolean, align: bigint): Ret<bigint> {
  if (len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
  if (addr !== 0n) {
    addr = (addr + align - 1n) & ~(align - 1n);
    if (TASK_SIZE - len >= addr && mm.vmas.overlapping(addr, addr + len).length === 0) return addr;
  }
  if (anon && addr === 0n && len % PMD_SIZE === 0n) {
    // thp_get_unmapped_area_vmflags(): room for len and a PMD more, then the PMD boundary in it
    // (the upper one, top-down, when the room starts on one); without such room, unaligned
    const padded = unmappedArea(mm, len + PMD_SIZE, PAGE);
    if (padded !== null) {
      const offSub = -padded & (PMD_SIZE - 1n);
      return offSub === 0n ? padded + PMD_SIZE : padded + offSub;
    }
  }
  return unmappedArea(mm, len, align) ?? new Errno('ENOMEM', 'mmap');
}

// vm_mmap_pgoff(): do_mmap(), the UNMAP events of the areas a MAP_FIXED mapping replaced, then MAP_POPULATE's faults
export function vmMmapPgoff(mm: Mm, addr: bigint, len: bigint, prot: number, flags: number, file: MappedFile | null, offset: bigint): Blocking<Ret<bigint>> {
  const uf = new UnmapList();
  const populate = { len: 0n };
  const r = doMmap(mm, addr, len, prot, flags, file, offset, uf, populate);
  return uf.complete(() => {
    if (!(r instanceof Errno) && populate.len) mmPopulate(mm, r, r + populate.len);
    return r;
  });
}

/**
 * do_mmap() + mmap_region(); `uf` gathers the UNMAP events owed by the
 * areas it replaces, and `populate` is told how much MAP_POPULATE asks to
 * fault in (the caller's to do, as vm_mmap_pgoff() does).
 */
export function doMmap(mm: Mm, addr: bigint, len: bigint, prot: number, flags: number, file: MappedFile | null, offset: bigint, uf?: UnmapList, populate?: { len: bigint }): Ret<bigint> {
  if (len === 0n) return new Errno('EINVAL', 'mmap');
  if (!pageAligned(offset)) return new Errno('EINVAL', 'mmap');
  len = pageAlign(len);
  if (len === 0n || len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
  const type = flags & U.MAP_TYPE;
  if (type !== U.MAP_SHARED && type !== U.MAP_PRIVATE) return new Errno('EINVAL', 'mmap');
  const anonymous = (flags & U.MAP_ANONYMOUS) !== 0;
  if (!anonymous && file === null) return new Errno('EBADF', 'mmap');
  // ksys_mmap_pgoff(): a hugetlbfs file, or MAP_HUGETLB memory (a file on an internal hugetlbfs), in whole huge pages
  const hugetlbFile = !anonymous && file!.inode.hugetlb;
  if (flags & U.MAP_HUGETLB && !hugetlbFile && (!anonymous || !hugetlbSizeOk(flags))) return new Errno('EINVAL', 'mmap');
  const hugetlb = hugetlbFile || (flags & U.MAP_HUGETLB) !== 0;
  if (hugetlb) len = hugeAlign(len);

  let vmFlags = (prot & (U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC)) | V.VM_MAYREAD | V.VM_MAYWRITE | V.VM_MAYEXEC;
  let inode: Inode | null = anonymous ? null : file!.inode;
  let pgoff = offset >> 12n;
  if (type === U.MAP_SHARED) {
    if (!anonymous && !file!.writable && prot & U.PROT_WRITE) return new Errno('EACCES', 'mmap');
    vmFlags |= V.VM_SHARED | V.VM_MAYSHARE;
    // a file opened read-only can never be written through the mapping: not VM_SHARED, only VM_MAYSHARE
    if (!anonymous && !file!.writable) vmFlags &= ~(V.VM_MAYWRITE | V.VM_SHARED);
  }
  if (flags & U.MAP_NORESERVE) vmFlags |= V.VM_NORESERVE;
  // accountable_mapping(): private, writable, not hugetlb, not MAP_NORESERVE
  if ((vmFlags & (V.VM_WRITE | V.VM_SHARED | V.VM_NORESERVE)) === V.VM_WRITE && !hugetlb) vmFlags |= V.VM_ACCOUNT;
  if (hugetlb) vmFlags |= V.VM_HUGETLB | V.VM_DONTEXPAND; // hugetlbfs_file_mmap()
  const align = hugetlb ? HPAGE_SIZE : PAGE;

  let start: bigint;
  if (flags & (U.MAP_FIXED | U.MAP_FIXED_NOREPLACE)) {
    if (addr & (align - 1n)) return new Errno('EINVAL', 'mmap');
    if (addr + len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
    if (flags & U.MAP_FIXED_NOREPLACE && mm.vmas.overlapping(addr, addr + len).length > 0) return new Errno('EEXIST', 'mmap');
    start = addr;
  } else {
    const got = getUnmappedArea(mm, addr, len, anonymous && type === U.MAP_PRIVATE && !hugetlb, align);
    if (got instanceof Errno) return got;
    start = got;
  }
  // mmap_region(): the areas it replaces are cut first, before the new file's ->mmap() reserves
  const cut = splitEdges(mm, start, start + len);
  if (cut) return new Errno(cut.name, 'mmap');
  let hugetlbResv: Set<bigint> | null = null;
  if (hugetlb) {
    if (!hugetlbFile) {
      inode = mm.sys.tmpfs.create('/anon_hugepage', false, true); // hugetlb_file_setup()
      inode.size = len;
      pgoff = 0n;
    }
    // hugetlbfs_file_mmap(): from a huge page boundary of the file; a writable mapping grows it
    if (pgoff & (HPAGE_SIZE / PAGE - 1n)) return new Errno('EINVAL', 'mmap');
    const from = pgoff / (HPAGE_SIZE / PAGE);
    const r = hugetlbReserve(mm.sys.hugetlb, inode!, from, from + len / HPAGE_SIZE, vmFlags);
    if (r === false) return new Errno('ENOMEM', 'mmap');
    hugetlbResv = r;
    if (vmFlags & V.VM_WRITE && inode!.size < len + pgoff * PAGE) inode!.size = len + pgoff * PAGE;
  }
  doMunmap(mm, start, len, uf);

  if (anonymous && !hugetlb) {
    if (type === U.MAP_SHARED) {
      inode = mm.sys.tmpfs.create('/dev/zero', false); // shmem_zero_setup()
      inode.size = len;
      pgoff = 0n;
    } else {
      pgoff = start >> 12n;
    }
  }
  // __mmap_complete(): every new mapping starts soft-dirty
  vmFlags |= mm.vmSoftdirty;
  const fresh = new Vma(start, start + len, vmFlags, pgoff, inode, 0n, null, hugetlbResv);
  // __mmap_region(): merged with its neighbours where they match, file areas too (shmem has no
  // vm_ops->close; hugetlb's VM_DONTEXPAND keeps it apart)
  const vma = mergeNew(mm, fresh);
  mm.vmaSetPageProt(vma);
  if (flags & U.MAP_POPULATE && populate) populate.len = len;
  return start;
}

/** __mm_populate(ignore_errors): each area of the range in turn; a failed fault ends that area's part */
function mmPopulate(mm: Mm, start: bigint, end: bigint): void {
  for (const v of mm.vmas.overlapping(start, end)) {
    const s = v.start > start ? v.start : start;
    const e = v.end < end ? v.end : end;
    populateVmaPageRange(mm, v, s, e);
  }
}

/**
 * populate_vma_page_range(): never PROT_NONE areas; a write fault (to break
 * COW) only in private writable areas, a read fault (FOLL_FORCE) elsewhere,
 * so shared pages are not dirtied for nothing. GUP's FOLL_TOUCH marks each
 * page accessed; then the LRU batches are drained.
 */
function populateVmaPageRange(mm: Mm, v: Vma, start: bigint, end: bigint): void {
  if (!(v.flags & V.VM_ACCESS_FLAGS)) return;
  const write = (v.flags & (V.VM_WRITE | V.VM_SHARED)) === V.VM_WRITE;
  for (let a = start, increm = 1n; a < end; a += increm * PAGE) {
    const r = getUserPage(mm, v, a, write);
    if (typeof r !== 'number') break;
    increm = BigInt(r);
  }
  mm.sys.lru.drain();
}

// munmap() -> __vm_munmap(): do_vmi_munmap()'s checks of the range, then the unmap
export function vmMunmap(mm: Mm, addr: bigint, len: bigint): Blocking<Ret<0>> {
  if (!pageAligned(addr) || len === 0n || addr > TASK_SIZE || len > TASK_SIZE - addr) return new Errno('EINVAL', 'munmap');
  const end = addr + pageAlign(len);
  const uf = new UnmapList();
  const err = doMunmap(mm, addr, end - addr, uf);
  return uf.complete(() => err ?? 0);
}

// exit_mmap()
export function exitMmap(mm: Mm): void {
  for (const v of [...mm.vmas.all()]) doMunmap(mm, v.start, v.end - v.start);
  mm.sys.mms.delete(mm);
}
