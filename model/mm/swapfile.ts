// A swap device (mm/swapfile.c) as the QEMU targets set one up: a RAM disk
// (brd) with a swap header in its first page. Slots are handed out in
// clusters of 512 as the cluster allocator does on a non-rotational device:
// on from the last slot in the current cluster, else the head of the free
// cluster list (a cluster that empties joins its tail), else a cluster with
// room left. After 6.12 a page takes a partly used cluster (the header's
// first of all) before a free one; a PMD-sized folio always needs a free one.
// 6.12 also has the swap slots cache (mm/swap_slots.c): pages take slots
// from a batch of 64 allocated at once, and freed slots wait in a batch of
// 64 before they go back; both count as used. brd is SWP_SYNCHRONOUS_IO, so
// a swap-in frees its slot at once and nothing lingers in the swap cache.
// swapoff(2) brings every swapped page back (try_to_unuse()), and swapon(2)
// sets the device up again.

import { Errno, type Ret } from '../../uapi/linux.ts';
import type { Mm } from './mm.ts';
import { type Folio, HPAGE_PMD_NR, PAGE_SIZE } from './physmem.ts';
import type { Inode } from './shmem.ts';
import type { System } from './system.ts';
import { VM_HUGETLB } from './vma.ts';

/** The device the model swaps to: the QEMU guests' RAM disk, the one block device it has. */
export const SWAP_DEVICE = '/dev/ram0';

/** SWAPFILE_CLUSTER: HPAGE_PMD_NR on THP kernels */
export const SWAPFILE_CLUSTER = HPAGE_PMD_NR;
const CLUSTER = BigInt(SWAPFILE_CLUSTER);
/** SWAP_BATCH, SWAP_SLOTS_CACHE_SIZE */
const SWAP_BATCH = 64;
/** check_cache_active() with one CPU: on above 5 batches of free slots, off below 1 */
const CACHE_ON = 5 * SWAP_BATCH;
const CACHE_OFF = SWAP_BATCH;

/** struct swap_slots_cache: slots handed out from, and slots freed into */
interface SlotsCache {
  readonly slots: bigint[];
  readonly ret: bigint[];
  active: boolean;
}

export class SwapDevice {
  /** swp_type(): the only device is the first swapon'ed */
  readonly type = 0;
  /** usable slots: the pages of the device less the header */
  readonly slots: bigint;
  /** used slot -> its content (null: a page of zeroes) */
  private readonly used = new Map<bigint, Uint8Array | null>();
  /** per cluster touched so far: how many of its slots are in use (the header counts) */
  private readonly clusterUse = new Map<bigint, number>();
  /**
   * si->free_clusters, kept without a word per cluster (a device may be
   * terabytes): those never used, from `fresh` up in order, then those that
   * emptied since, in the order they did
   */
  private fresh = 1n;
  private readonly emptied: bigint[] = [];
  /** the next slot to try in the current cluster (percpu_cluster->next[0]) */
  private next: bigint | null = null;

  private readonly cache: SlotsCache | null;
  /** swap_map's counts above one: the references fork() added to a slot */
  private readonly dups = new Map<bigint, number>();

  /** `nonfullFirst`: the kernel prefers partly used clusters for single pages; `slotsCache`: it has mm/swap_slots.c; `prio`: /proc/swaps' Priority */
  constructor(
    bytes: bigint,
    private readonly nonfullFirst: boolean,
    slotsCache: boolean,
    readonly prio: number,
  ) {
    this.cache = slotsCache ? { slots: [], ret: [], active: false } : null;
    const pages = bytes / BigInt(PAGE_SIZE);
    this.slots = pages > 0n ? pages - 1n : 0n;
    this.clusterUse.set(0n, 1); // slot 0 holds the header
  }

  /** The head of si->free_clusters, if any. */
  private firstFree(): bigint | null {
    if (this.fresh < this.nrClusters) return this.fresh;
    return this.emptied[0] ?? null;
  }

  private get nrClusters(): bigint {
    return (this.slots + 1n) / CLUSTER;
  }

  /** pages in use, as /proc/swaps' Used column counts them */
  get inuse(): number {
    return this.used.size;
  }

  private usable(offset: bigint): boolean {
    return offset > 0n && offset <= this.slots && !this.used.has(offset);
  }

  /** The first free slot of cluster c, from slot `from` on. */
  private scan(c: bigint, from: bigint): bigint | null {
    for (let o = from; o < (c + 1n) * CLUSTER; o++) if (this.usable(o)) return o;
    return null;
  }

  /** A free slot in a cluster already in use (nonfull_clusters, then frag_clusters). */
  private nonfull(): bigint | null {
    const partial = [...this.clusterUse].filter(([, use]) => use > 0 && use < SWAPFILE_CLUSTER).map(([c]) => c);
    if (partial.length === 0) return null;
    const c = partial.reduce((a, b) => (b < a ? b : a));
    return this.scan(c, c * CLUSTER);
  }

  /**
   * folio_alloc_swap(): nr = 1 for a page (through the slots cache where
   * there is one), SWAPFILE_CLUSTER for a PMD-sized folio. Returns the
   * first offset, or null when the device has no room (add_to_swap() fails).
   */
  alloc(nr: number): bigint | null {
    const cache = this.cache;
    if (nr !== 1 || !cache || !this.cacheActive(cache)) return this.clusterAlloc(nr);
    // refill_swap_slots_cache(): get_swap_pages(SWAP_BATCH) once the batch is used up
    if (cache.slots.length === 0) {
      for (let i = 0; i < SWAP_BATCH; i++) {
        const o = this.clusterAlloc(1);
        if (o === null) break;
        cache.slots.push(o);
      }
    }
    return cache.slots.shift() ?? null;
  }

  // check_cache_active()
  private cacheActive(cache: SlotsCache): boolean {
    const free = Number(this.slots) - this.used.size;
    if (!cache.active && free > CACHE_ON) cache.active = true;
    else if (cache.active && free < CACHE_OFF) cache.active = false;
    return cache.active;
  }

  /**
   * cluster_alloc_swap_entry(): nr = 1 for a page, SWAPFILE_CLUSTER for a
   * PMD-sized folio, which needs a cluster of its own.
   */
  private clusterAlloc(nr: number): bigint | null {
    let offset: bigint | null = null;
    // a current cluster ends with its last slot
    if (nr === 1 && this.next !== null && this.next % CLUSTER !== 0n) offset = this.scan(this.next / CLUSTER, this.next);
    if (offset === null && nr === 1 && this.nonfullFirst) offset = this.nonfull();
    const free = this.firstFree();
    if (offset === null && free !== null) offset = free * CLUSTER;
    if (offset === null && nr === 1) offset = this.nonfull();
    if (offset === null) return null;
    for (let i = 0n; i < BigInt(nr); i++) this.take(offset + i);
    if (nr === 1) this.next = offset + 1n;
    return offset;
  }

  private take(offset: bigint): void {
    this.used.set(offset, null);
    const c = offset / CLUSTER;
    const use = this.clusterUse.get(c) ?? 0;
    if (use === 0) {
      const i = this.emptied.indexOf(c);
      if (i >= 0) this.emptied.splice(i, 1);
      else if (c === this.fresh) this.fresh++;
    }
    this.clusterUse.set(c, use + 1);
  }

  /** swap_writeout(): the page's content goes to its slot. */
  write(offset: bigint, page: Uint8Array | null): void {
    this.used.set(offset, page);
  }

  /** swap_read_folio() */
  read(offset: bigint): Uint8Array | null {
    return this.used.get(offset) ?? null;
  }

  /** swap_dup_entry_direct(): one more pte refers to the slot (fork()) */
  dup(offset: bigint): void {
    this.dups.set(offset, (this.dups.get(offset) ?? 0) + 1);
  }

  /** One reference to the slot goes: true when it was the last. */
  private put(offset: bigint): boolean {
    const n = this.dups.get(offset);
    if (n === undefined) return true;
    if (n === 1) this.dups.delete(offset);
    else this.dups.set(offset, n - 1);
    return false;
  }

  /** swap_free(): a reference to the slot goes; once the last has, free_swap_slot() holds it back in a batch first. */
  free(offset: bigint): void {
    const cache = this.cache;
    if (!this.used.has(offset) || !this.put(offset)) return;
    if (cache?.active) {
      this.used.set(offset, null);
      cache.ret.push(offset);
      if (cache.ret.length < SWAP_BATCH) return;
      for (const o of cache.ret.splice(0)) this.release(o);
      return;
    }
    this.release(offset);
  }

  /**
   * free_swap_and_cache_nr() for a zapped run of swap ptes: a run of more
   * than one within a cluster goes straight back (__swap_entries_free()),
   * bypassing the slots cache; a single entry is freed as any other.
   */
  freeEntries(all: readonly bigint[]): void {
    const offsets = all.filter((o) => this.put(o));
    const first = offsets[0];
    if (first === undefined) return;
    const oneCluster = first / CLUSTER === offsets.at(-1)! / CLUSTER;
    if (offsets.length > 1 && oneCluster) for (const o of offsets) this.release(o);
    else for (const o of offsets) this.free(o);
  }

  /** swap_entries_free(): back to its cluster */
  private release(offset: bigint): void {
    this.used.delete(offset);
    const c = offset / CLUSTER;
    const use = this.clusterUse.get(c)! - 1;
    this.clusterUse.set(c, use);
    if (use === 0) this.emptied.push(c);
  }
}

// sys_swapoff(): every page on the device read back (try_to_unuse()), then the device gone
export function swapoff(sys: System, path: string): Ret<0> {
  // without swap the RAM disk was never made (the guests load brd only to swap to it): no such path
  if (path !== SWAP_DEVICE || sys.cfg.swapBytes === 0n) return new Errno(sys.tmpfs.lookup(path) ? 'EINVAL' : 'ENOENT', 'swapoff');
  const swap = sys.swap;
  if (!swap) return new Errno('EINVAL', 'swapoff');
  tryToUnuse(sys, swap);
  sys.swap = null;
  return 0;
}

/** swapon(2)'s flags: a priority of the caller's choosing */
const SWAP_FLAG_PREFER = 0x8000;
const SWAP_FLAG_PRIO_MASK = 0x7fff;

/** The device as swapon() sets it up: its priority the one asked for, else the kernel's first (swapoff gave it back). */
export function swapDevice(sys: Pick<System, 'cfg'>, flags = 0): SwapDevice {
  const { swapBytes, kernel } = sys.cfg;
  return new SwapDevice(swapBytes, kernel.swapNonfullFirst, kernel.swapSlotsCache, flags & SWAP_FLAG_PREFER ? flags & SWAP_FLAG_PRIO_MASK : kernel.swapDefaultPrio);
}

// sys_swapon() of the RAM disk, its swap header as init wrote it: the device as it was at boot, empty
export function swapon(sys: System, path: string, flags: number): Ret<0> {
  if (path !== SWAP_DEVICE || sys.cfg.swapBytes === 0n) return new Errno(sys.tmpfs.lookup(path) ? 'EINVAL' : 'ENOENT', 'swapon');
  if (sys.swap) return new Errno('EBUSY', 'swapon');
  sys.swap = swapDevice(sys, flags);
  return 0;
}

/**
 * try_to_unuse(): shmem's swapped pages back into their files
 * (shmem_unuse()), then every swap pte of every process's areas mapped
 * again (unuse_mm()), a slot's page read once into the swap cache and
 * shared by all the ptes that name it; what the cache held is dirty once
 * it leaves it (folio_free_swap()).
 */
function tryToUnuse(sys: System, swap: SwapDevice): void {
  for (const inode of sys.shmemSwaplist) shmemUnuse(sys, swap, inode);
  sys.shmemSwaplist.clear();
  const cache = new Map<bigint, Folio>();
  for (const mm of sys.mms) for (const vma of mm.vmas.all()) if (!(vma.flags & VM_HUGETLB)) unuseVma(mm, swap, vma.start, vma.end, vma.pageProt, cache);
  for (const folio of cache.values()) folio.dirty = true;
}

// shmem_unuse() of one file: shmem_swapin_folio() of each swapped page, into the page cache, dirty
function shmemUnuse(sys: System, swap: SwapDevice, inode: Inode): void {
  for (const [index, offset] of inode.swapped) {
    const f = sys.phys.alloc(0, false, inode, index);
    sys.phys.setPageData(f.pfn, swap.read(offset));
    swap.free(offset);
    f.dirty = true;
    inode.pages.set(index, f);
  }
  inode.swapped.clear();
}

// unuse_vma() down to unuse_pte() for each swap pte of the device
function unuseVma(mm: Mm, swap: SwapDevice, start: bigint, end: bigint, prot: bigint, cache: Map<bigint, Folio>): void {
  const pg = mm.pg;
  const phys = mm.sys.phys;
  mm.pt.forEachPteSlot(start, end, (_, slot, pte) => {
    if (pte === 0n || pg.ptePresent(pte)) return;
    const e = pg.pteToSwpEntry(pte);
    if (!pg.isSwapEntry(e) || pg.swpType(e) !== swap.type) return;
    const offset = pg.swpOffset(e);
    let folio = cache.get(offset);
    if (!folio) {
      // read_swap_cache_async()
      folio = phys.alloc(0, true);
      phys.setPageData(folio.pfn, swap.read(offset));
      cache.set(offset, folio);
    }
    // folio_add_anon_rmap_pte(), RMAP_EXCLUSIVE where the swap pte says so
    folio.addMapcount(0, 1);
    folio.setExclusive(0, pg.pteSwpExclusive(pte));
    let entry = pg.pteMkold(pg.pfnPte(folio.pfn, prot));
    if (pg.pteSwpSoftDirty(pte)) entry = pg.pteMksoftDirty(entry);
    if (pg.pteSwpUffdWp(pte)) entry = pg.pteMkuffdWp(entry);
    mm.arch.setPteAt(slot, entry);
    // folio_put_swap()
    swap.free(offset);
  });
}
