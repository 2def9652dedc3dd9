// tmpfs: the in-memory filesystem behind regular files and memfd in the
// model. Pages live in the page cache, or in swap once reclaim wrote them
// out (mm/shmem.c).

import { Errno } from '../../uapi/linux.ts';
import { unmapMappingRange } from './memory.ts';
import type { Mm } from './mm.ts';
import { PAGE_SIZE, type Folio, type Mapping, type PhysMem } from './physmem.ts';
import { folioMarkAccessed, type LruBatches } from './swap.ts';
import type { SwapDevice } from './swapfile.ts';
import * as V from './vma.ts';
import type { Vma } from './vma.ts';

const PAGE = BigInt(PAGE_SIZE);

/** What shmem needs of the system: its memory, its swap device, and the processes that may map a file. */
export interface ShmemBacking {
  readonly phys: PhysMem;
  readonly swap: SwapDevice | null;
  readonly mms: Iterable<Mm>;
  readonly lru: LruBatches;
}

export class Inode implements Mapping {
  readonly shmem = true;
  size = 0n;
  /** the page cache: page index -> folio */
  readonly pages = new Map<bigint, Folio>();
  /** pages written out to swap: page index -> swap offset */
  readonly swapped = new Map<bigint, bigint>();
  /** names in the filesystem pointing at it; 0 for memfd and unlinked files */
  nlink = 0;
  /** a hugetlbfs file's reservations: huge page indices reserved and not yet faulted in */
  readonly hugetlbResv = new Set<bigint>();
  /** struct files open on it: descriptors, and a System V segment's shm_file */
  openFiles = 0;
  /** its pages went back when the last reference went (model/mm/file-table.ts) */
  evicted = false;
  constructor(
    readonly id: number,
    /** the path it was created at, or how /proc names it ("/memfd:x", "/dev/zero", "/anon_hugepage") */
    readonly path: string,
    /** on hugetlbfs: its page cache holds 2 MiB pages, indexed in huge pages */
    readonly hugetlb = false,
  ) {}
}

export class Tmpfs {
  private nextIno = 1;
  private readonly names = new Map<string, Inode>();

  lookup(path: string): Inode | null {
    return this.names.get(path) ?? null;
  }
  /** A file at path, or (linked: false) one no name reaches: memfd, shared anonymous memory, MAP_HUGETLB. */
  create(path: string, linked = true, hugetlb = false): Inode {
    const inode = new Inode(this.nextIno++, path, hugetlb);
    if (linked) {
      this.names.set(path, inode);
      inode.nlink = 1;
    }
    return inode;
  }
  unlink(path: string): boolean {
    const inode = this.names.get(path);
    if (!inode) return false;
    this.names.delete(path);
    inode.nlink--;
    return true;
  }
}

/**
 * shmem_get_folio(SGP_CACHE): the page cache folio at index, read back from
 * swap (shmem_swapin_folio(): the slot is freed, the folio dirty) or
 * allocated on first use.
 */
export function shmemGetFolio(sys: ShmemBacking, inode: Inode, index: bigint): Folio {
  let f = inode.pages.get(index);
  // only MADV_COLLAPSE makes one, and its pages are mapped by pmd
  if (f && f.nrPages > 1 && !inode.hugetlb) throw new Error('shmem: a page of a huge shmem folio through a pte is not modelled');
  if (f) return f;
  f = sys.phys.alloc(0, false, inode, index);
  const offset = inode.swapped.get(index);
  if (offset !== undefined && sys.swap) {
    sys.phys.setPageData(f.pfn, sys.swap.read(offset));
    sys.swap.free(offset);
    inode.swapped.delete(index);
    f.dirty = true;
  }
  inode.pages.set(index, f);
  return f;
}

/** shmem_evict_inode(): the file's pages and swap slots are freed. */
export function shmemEvict(sys: ShmemBacking, inode: Inode): void {
  inode.size = 0n;
  shmemTruncateRange(sys, inode, 0n);
}

/**
 * shmem_setattr(ATTR_SIZE): the new size; a shrink unmaps the pages past
 * the new end from every mapping, private COWed copies included
 * (unmap_mapping_range(even_cows)), then drops them from the file: an
 * access there now gets SIGBUS, and once the file grows again, zeroes.
 */
export function shmemSetattrSize(sys: ShmemBacking, inode: Inode, size: bigint): void {
  const old = inode.size;
  inode.size = size;
  if (size > old) return;
  const holebegin = (size + PAGE - 1n) / PAGE;
  if (old > holebegin * PAGE) unmapMappingRange(sys.mms, inode, holebegin);
  shmemTruncateRange(sys, inode, size);
}

/**
 * shmem_truncate_range(lstart, -1) -> shmem_undo_range(): the pages wholly
 * past lstart leave the page cache (freed: nothing maps them any more) and
 * swap; the page lstart falls inside, read back from swap if it must be,
 * keeps its head and has its tail zeroed (truncate_inode_partial_folio()).
 */
function shmemTruncateRange(sys: ShmemBacking, inode: Inode, lstart: bigint): void {
  const keep = (lstart + PAGE - 1n) / PAGE;
  let released = false;
  for (const [index, f] of [...inode.pages]) {
    if (index < keep) continue;
    if (f.index < keep) throw new Error('shmem: truncating inside a huge shmem folio (a split) is not modelled');
    inode.pages.delete(index);
    // a huge folio holds many indices: freed with its first
    if (index === f.index) sys.phys.free(f);
    released = true;
  }
  // folio_batch_release() of the pages taken out drains the LRU batches
  if (released) sys.lru.drain();
  for (const [index, offset] of [...inode.swapped]) {
    if (index < keep) continue;
    sys.swap?.free(offset);
    inode.swapped.delete(index);
  }
  const partial = Number(lstart % PAGE);
  const index = lstart / PAGE;
  if (partial === 0 || !(inode.pages.has(index) || inode.swapped.has(index))) return;
  const f = shmemGetFolio(sys, inode, index);
  if (sys.phys.hasData(f.pfn)) sys.phys.write(f.pfn, partial, new Uint8Array(PAGE_SIZE - partial));
}

/**
 * shmem_file_write_iter() -> generic_perform_write(): each page through
 * shmem_write_begin() (the folio, allocated or read back from swap) and
 * its end, which dirties the folio and moves i_size past what was written.
 */
export function shmemWrite(sys: ShmemBacking, inode: Inode, pos: bigint, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) {
    const at = pos + BigInt(done);
    const off = Number(at % PAGE);
    const n = Math.min(data.length - done, PAGE_SIZE - off);
    const f = shmemGetFolio(sys, inode, at / PAGE);
    // shmem_get_folio_gfp(SGP_WRITE): folio_mark_accessed() of a cached folio, folio_set_referenced() of a new one
    folioMarkAccessed(f);
    sys.phys.write(f.pfn, off, data.subarray(done, done + n));
    f.dirty = true;
    done += n;
  }
  const end = pos + BigInt(data.length);
  if (end > inode.size) inode.size = end;
}

// --- userfaultfd (shmem_uffd_ops, and shmem_get_folio_gfp()'s handle_userfault()) ---

/**
 * shmem_get_folio_gfp() from a fault in vma: a page in the page cache (or
 * in swap) goes to the area's context as a minor fault when the area is
 * registered MINOR, a hole as a missing one when it is registered
 * MISSING; 0 when the fault goes on in the kernel.
 */
export function shmemUserfaultReason(vma: Vma, inode: Inode, index: bigint): number {
  const cached = inode.pages.has(index) || inode.swapped.has(index);
  if (cached) return vma.flags & V.VM_UFFD_MINOR;
  return vma.flags & V.VM_UFFD_MISSING;
}

/** shmem_mfill_folio_alloc(): a new page for index, not in the cache yet; null past the end of the file (the ioctl's ENOMEM) */
export function shmemMfillFolioAlloc(sys: ShmemBacking, inode: Inode, index: bigint): Folio | null {
  if (index >= (inode.size + PAGE - 1n) / PAGE) return null;
  return sys.phys.alloc(0, false, inode, index);
}

/** shmem_mfill_filemap_add() -> shmem_add_to_page_cache(): EEXIST where the cache (or swap) holds the index already */
export function shmemMfillFilemapAdd(inode: Inode, f: Folio): Errno | null {
  if (inode.pages.has(f.index) || inode.swapped.has(f.index)) return new Errno('EEXIST');
  inode.pages.set(f.index, f);
  return null;
}

/** shmem_mfill_filemap_remove(): the page leaves the cache again (its install failed) */
export function shmemMfillFilemapRemove(inode: Inode, f: Folio): void {
  if (f.same(inode.pages.get(f.index))) inode.pages.delete(f.index);
}

/**
 * shmem_get_folio_noalloc() -> shmem_get_folio(SGP_NOALLOC): the cached
 * page, read back from swap if it must be; EINVAL past the end of the
 * file, ENOENT for a hole.
 */
export function shmemGetFolioNoalloc(sys: ShmemBacking, inode: Inode, index: bigint): Folio | Errno {
  if (index >= (inode.size + PAGE - 1n) / PAGE) return new Errno('EINVAL');
  if (!inode.pages.has(index) && !inode.swapped.has(index)) return new Errno('ENOENT');
  return shmemGetFolio(sys, inode, index);
}
