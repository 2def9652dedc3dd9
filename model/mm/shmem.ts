// tmpfs: the in-memory filesystem behind regular files and memfd in the
// model. Pages live in the page cache, or in swap once reclaim wrote them
// out (mm/shmem.c).

import type { Folio, Mapping, PhysMem } from './physmem.ts';
import type { SwapDevice } from './swapfile.ts';

/** What shmem needs of the system: its memory and its swap device. */
export interface ShmemBacking {
  readonly phys: PhysMem;
  readonly swap: SwapDevice | null;
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
  /** made for one mapping (shared anonymous memory, MAP_HUGETLB): no name, no descriptor; gone with its last mapping */
  mappingOnly = false;
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
  for (const f of inode.pages.values()) sys.phys.free(f);
  inode.pages.clear();
  shmemTruncate(sys, inode, 0n);
}

/** shmem_setattr() truncation: pages past the new size leave the page cache and swap. */
export function shmemTruncate(sys: ShmemBacking, inode: Inode, size: bigint): void {
  const keep = (size + 4095n) >> 12n;
  for (const index of [...inode.pages.keys()]) if (index >= keep) inode.pages.delete(index);
  for (const [index, offset] of [...inode.swapped]) {
    if (index < keep) continue;
    sys.swap?.free(offset);
    inode.swapped.delete(index);
  }
  inode.size = size;
}
