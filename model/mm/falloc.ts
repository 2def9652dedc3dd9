// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) on the model's files
// (vfs_fallocate() -> shmem_fallocate(), hugetlbfs_fallocate()), which
// MADV_REMOVE also comes to: the pages in the hole leave every mapping and
// the file. Allocation (mode 0) is not modelled and fails loudly.

import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { HPAGE_SIZE } from './hugetlb.ts';
import { zapRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE } from './physmem.ts';
import type { Inode } from './shmem.ts';
import type { System } from './system.ts';

const PAGE = BigInt(PAGE_SIZE);
const LOFF_MAX = (1n << 63n) - 1n;

// vfs_fallocate(): the checks every file system gets, then the hole
export function vfsFallocate(sys: System, inode: Inode, writable: boolean, mode: number, offset: bigint, len: bigint): Ret<0> {
  if (offset < 0n || len <= 0n) return new Errno('EINVAL', 'fallocate');
  if (mode & U.FALLOC_FL_PUNCH_HOLE && !(mode & U.FALLOC_FL_KEEP_SIZE)) return new Errno('EOPNOTSUPP', 'fallocate');
  if (!writable) return new Errno('EBADF', 'fallocate');
  if (offset + len > LOFF_MAX) return new Errno('EFBIG', 'fallocate');
  if (mode !== (U.FALLOC_FL_PUNCH_HOLE | U.FALLOC_FL_KEEP_SIZE)) throw new Error(`fallocate: mode 0x${mode.toString(16)} is not modelled (only FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`);
  punchHole(sys, inode, offset, len);
  return 0;
}

/**
 * shmem_fallocate() and hugetlbfs_punch_hole() for [offset, offset + len):
 * the whole pages in the hole are unmapped from every area mapping them
 * (uffd-wp markers stay), then leave the page cache and swap; a page the
 * hole cuts keeps its bytes outside it and has the rest zeroed.
 */
export function punchHole(sys: System, inode: Inode, offset: bigint, len: bigint): void {
  const size = inode.hugetlb ? HPAGE_SIZE : PAGE;
  const first = (offset + size - 1n) / size;
  const end = (offset + len) / size;
  if (end > first) {
    for (const mm of sys.mms) unmapFileRange(mm, inode, first * (size / PAGE), end * (size / PAGE));
    for (let i = first; i < end; i++) removePage(sys, inode, i);
  }
  zeroPartial(sys, inode, offset, first * size < offset + len ? first * size : offset + len, size);
  if (end >= first) zeroPartial(sys, inode, end * size > offset ? end * size : offset, offset + len, size);
}

/**
 * unmap_mapping_range(even_cows = 0) of page indices [first, end): the file's
 * pages leave every area mapping them; a private area's copies of its own
 * (anonymous pages) would stay, which the model does not tell apart yet.
 */
function unmapFileRange(mm: Mm, inode: Inode, first: bigint, end: bigint): void {
  for (const v of [...mm.vmas.all()]) {
    if (v.file !== inode) continue;
    const lo = first > v.pgoff ? first : v.pgoff;
    const hi = end < v.pageIndex(v.end) ? end : v.pageIndex(v.end);
    if (lo >= hi) continue;
    if (v.anonVma !== null && !inode.hugetlb) throw new Error('fallocate: punching a hole under a private mapping with copies of its own is not modelled');
    zapRange(mm, v.start + (lo - v.pgoff) * PAGE, v.start + (hi - v.pgoff) * PAGE, false);
  }
}

// shmem_undo_range() / remove_inode_hugepages() of one page: freed, with its swap slot or reservation
function removePage(sys: System, inode: Inode, index: bigint): void {
  const f = inode.pages.get(index);
  if (f && f.nrPages > 1 && !inode.hugetlb) throw new Error('fallocate: punching a hole in a huge shmem folio (a split) is not modelled');
  if (f) {
    inode.pages.delete(index);
    sys.phys.free(f);
    if (inode.hugetlb) sys.hugetlb.release(sys.phys.nidOf(f.pfn));
  }
  const offset = inode.swapped.get(index);
  if (offset !== undefined) {
    sys.swap?.free(offset);
    inode.swapped.delete(index);
  }
  // hugetlb_unreserve_pages(): the hole's reservations go back
  if (inode.hugetlbResv.delete(index)) sys.hugetlb.unreserve(1);
}

// truncate_inode_partial_folio(), hugetlbfs_zero_partial_page(): [from, to) within one page, zeroed where the page is
function zeroPartial(sys: System, inode: Inode, from: bigint, to: bigint, size: bigint): void {
  if (from >= to) return;
  const f = inode.pages.get(from / size);
  if (inode.swapped.has(from / size)) throw new Error('fallocate: zeroing part of a swapped-out page is not modelled');
  if (!f || !sys.phys.hasData(f.pfn)) return;
  const at = from % size;
  // a huge page's bytes are its small pages' in turn
  for (let o = at; o < at + (to - from); ) {
    const pfn = f.pfn + o / PAGE;
    const inPage = o % PAGE;
    const n = (to - from) - (o - at) < PAGE - inPage ? (to - from) - (o - at) : PAGE - inPage;
    if (sys.phys.hasData(pfn)) sys.phys.write(pfn, Number(inPage), new Uint8Array(Number(n)));
    o += n;
  }
}
