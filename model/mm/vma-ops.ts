// What mm/vma.c does to an mm's areas: cuts them (__split_vma()), merges
// them with their neighbours (vma_merge_new_range(), vma_modify_flags()) and
// unmaps them (do_vmi_munmap()). The area types and the merge rule are in
// vma.ts.

import { Errno, type Ret } from '../../uapi/linux.ts';
import { hugetlbEvictInode, hugetlbSplitOk, hugetlbVmaClose } from './hugetlb.ts';
import { freePgtables, zapRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { shmemEvict } from './shmem.ts';
import { canMerge, type UffdContext, type Vma } from './vma.ts';

/** A new area's merge with its neighbours (vma_merge_new_range()); returns the area now covering it. */
export function mergeNew(mm: Mm, v: Vma): Vma {
  const prev = mm.vmas.all().filter((x) => x.end <= v.start).at(-1) ?? null;
  const next = mm.vmas.all().find((x) => x.start >= v.end) ?? null;
  const withPrev = prev !== null && canMerge(prev, v);
  const withNext = next !== null && canMerge(v, next) && (!withPrev || canMerge(prev, next));
  const sticky = stickyFrom(mm, [v, ...(withPrev ? [prev] : []), ...(withNext && next ? [next] : [])]);
  if (withPrev) {
    prev.end = withNext && next ? next.end : v.end;
    if (withNext && next) mm.vmas.remove(next);
    prev.anonVma ??= next?.anonVma ?? v.anonVma;
    prev.flags |= sticky;
    return prev;
  }
  if (withNext && next) {
    next.start = v.start;
    next.pgoff = v.pgoff;
    next.anonVma ??= v.anonVma;
    next.flags |= sticky;
    return next;
  }
  mm.vmas.insert(v);
  return v;
}

/** VMA_STICKY_FLAGS: what a merge carries over from every part (v6.19+) */
function stickyFrom(mm: Mm, parts: readonly Vma[]): number {
  if (!mm.sys.cfg.kernel.vmaStickySoftDirty) return 0;
  return parts.reduce((acc, p) => acc | (p.flags & mm.vmSoftdirty), 0);
}

/**
 * vma_modify_flags(): gives [start, end) of v new flags, splitting v and
 * merging the result with its neighbours where they match; returns the
 * area now covering the range. mprotect_fixup() then resets the flags to
 * the new ones (plus sticky flags from a merge).
 */
export function modifyFlags(mm: Mm, v: Vma, start: bigint, end: bigint, flags: number, uffdCtx: UffdContext | null = v.uffdCtx): Ret<Vma> {
  // vma_modify(): the split at start stays even when the one at end fails
  if (start > v.start) {
    const upper = splitVma(mm, v, start);
    if (upper instanceof Errno) return upper;
    v = upper;
  }
  if (end < v.end) {
    const upper = splitVma(mm, v, end);
    if (upper instanceof Errno) return upper;
  }
  v.flags = flags;
  v.uffdCtx = uffdCtx;
  const prev = mm.vmas.prev(v);
  const next = mm.vmas.next(v);
  let result = v;
  if (prev && canMerge(prev, v)) {
    const sticky = stickyFrom(mm, [prev, v]);
    prev.end = v.end;
    prev.anonVma ??= v.anonVma;
    mm.vmas.remove(v);
    prev.flags = flags | sticky;
    result = prev;
  }
  if (next && canMerge(result, next)) {
    const sticky = stickyFrom(mm, [result, next]);
    result.end = next.end;
    result.anonVma ??= next.anonVma;
    mm.vmas.remove(next);
    result.flags = flags | sticky;
  }
  return result;
}

/** __split_vma(): v cut at addr, the upper part returned; vm_ops->may_split() lets hugetlb be cut only on huge page boundaries. */
function splitVma(mm: Mm, v: Vma, addr: bigint): Ret<Vma> {
  if (!hugetlbSplitOk(v, addr)) return new Errno('EINVAL', '');
  return mm.vmas.split(v, addr);
}

/**
 * vms_gather_munmap_vmas(): the areas over [start, end) cut at its edges,
 * the first area at start, then the last at end; a failed cut leaves the
 * ones before it made.
 */
export function splitEdges(mm: Mm, start: bigint, end: bigint): Errno | null {
  const first = mm.vmas.overlapping(start, end)[0];
  if (first && start > first.start) {
    const r = splitVma(mm, first, start);
    if (r instanceof Errno) return r;
  }
  const last = mm.vmas.overlapping(start, end).at(-1);
  if (last && end < last.end) {
    const r = splitVma(mm, last, end);
    if (r instanceof Errno) return r;
  }
  return null;
}

// do_vmi_munmap(): split at the edges, zap, drop the areas and their tables
export function doMunmap(mm: Mm, start: bigint, len: bigint): Errno | null {
  const end = start + len;
  const cut = splitEdges(mm, start, end);
  if (cut) return new Errno(cut.name, 'munmap');
  for (const cur of mm.vmas.overlapping(start, end)) {
    zapRange(mm, cur.start, cur.end, true);
    hugetlbVmaClose(mm, cur, cur.start, cur.end);
    mm.vmas.remove(cur);
    // the last mapping of shared anonymous memory or a MAP_HUGETLB file closes it (fput() -> evict)
    const inode = cur.file;
    if (inode?.mappingOnly && !mm.vmas.all().some((x) => x.file === inode)) {
      if (inode.hugetlb) hugetlbEvictInode(mm, inode);
      else shmemEvict(mm.sys, inode);
    }
  }
  freePgtables(mm, start, end);
  return null;
}
