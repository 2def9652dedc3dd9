// What mm/vma.c does to an mm's areas: cuts them (__split_vma()), merges
// them with their neighbours (vma_merge_new_range(), vma_modify_flags()) and
// unmaps them (do_vmi_munmap()). The area types and the merge rule are in
// vma.ts.

import { Errno, type Ret } from '../../uapi/linux.ts';
import { iput } from './file-table.ts';
import { hugetlbSplitOk, hugetlbVmaClose } from './hugetlb.ts';
import { splitHugePmdIfNeeded } from './huge-memory.ts';
import { freePgtables, zapRange } from './memory.ts';
import type { Mm } from './mm.ts';
import type { UnmapList } from './userfaultfd.ts';
import * as V from './vma.ts';
import { canMerge, VM_MAYBE_GUARD, type UffdContext, type Vma } from './vma.ts';

/**
 * A new area's merge with its neighbours (vma_merge_new_range()); returns
 * the area now covering it. copy_vma() keeps an MREMAP_DONTUNMAP source
 * (`notWith`) out of the merge.
 */
export function mergeNew(mm: Mm, v: Vma, notWith: Vma | null = null): Vma {
  const found = (x: Vma | undefined) => (x === undefined || x === notWith ? null : x);
  const prev = found(mm.vmas.all().filter((x) => x.end <= v.start).at(-1));
  const next = found(mm.vmas.all().find((x) => x.start >= v.end));
  // VM_SPECIAL areas never merge
  const special = (v.flags & (V.VM_DONTEXPAND | V.VM_PFNMAP | V.VM_MIXEDMAP)) !== 0;
  // is_mergeable_anon_vma(): on 6.12 a range with an anon_vma merges only into a neighbour with one
  const into = (t: Vma) => mm.sys.cfg.kernel.mergeIntoNoAnonVma || v.anonVma === null || t.anonVma !== null;
  const withPrev = !special && prev !== null && canMerge(prev, v) && into(prev);
  // can_vma_merge_right(): merging both sides needs prev's and next's anon_vmas to agree too
  const withNext = !special && next !== null && canMerge(v, next) && into(next) && (!withPrev || prev.anonVma === null || next.anonVma === null || prev.anonVma === next.anonVma);
  const sticky = stickyFrom(mm, [v, ...(withPrev ? [prev] : []), ...(withNext && next ? [next] : [])]);
  if (withPrev) {
    prev.end = withNext && next ? next.end : v.end;
    if (withNext && next) mm.vmas.remove(next);
    prev.anonVma ??= v.anonVma ?? (withNext && next ? next.anonVma : null);
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

/** vma_merge_extend(): v grown by delta at its end, merged with the next area where they match (mremap() in place) */
export function mergeExtend(mm: Mm, v: Vma, delta: bigint): Vma {
  return mergeNew(mm, v.clone(v.end, v.end + delta));
}

/** VMA_STICKY_FLAGS: what a merge carries over from every part: VM_MAYBE_GUARD, and VM_SOFTDIRTY from v6.19 */
function stickyFrom(mm: Mm, parts: readonly Vma[]): number {
  const sticky = VM_MAYBE_GUARD | (mm.sys.cfg.kernel.vmaStickySoftDirty ? mm.vmSoftdirty : 0);
  return parts.reduce((acc, p) => acc | (p.flags & sticky), 0);
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

/**
 * __split_vma(): v cut at addr, the upper part returned; vm_ops->may_split()
 * lets hugetlb be cut only on huge page boundaries, and a huge pmd across
 * the cut is split first (vma_adjust_trans_huge()).
 */
function splitVma(mm: Mm, v: Vma, addr: bigint): Ret<Vma> {
  if (!hugetlbSplitOk(v, addr)) return new Errno('EINVAL', '');
  splitHugePmdIfNeeded(mm, v, v.start);
  splitHugePmdIfNeeded(mm, v, addr);
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

// do_vmi_munmap(): split at the edges, zap, drop the areas and their tables; `uf` gathers the UNMAP events owed
export function doMunmap(mm: Mm, start: bigint, len: bigint, uf?: UnmapList): Errno | null {
  const end = start + len;
  const cut = splitEdges(mm, start, end);
  if (cut) return new Errno(cut.name, 'munmap');
  const vmas = mm.vmas.overlapping(start, end);
  // vms_gather_munmap_vmas()
  if (uf) for (const cur of vmas) uf.prep(cur, start, end);
  for (const cur of vmas) {
    zapRange(mm, cur.start, cur.end, true);
    hugetlbVmaClose(mm, cur, cur.start, cur.end);
    mm.vmas.remove(cur);
    // the last mapping of a file nothing else holds (shared anonymous memory, MAP_HUGETLB) evicts it
    if (cur.file) {
      mm.sys.ipc.shmClose(cur.file);
      iput(mm.sys, cur.file);
    }
  }
  freePgtables(mm, start, end);
  return null;
}
