// Virtual memory areas: vm_area_struct, its flags (include/linux/mm.h), and
// the rules that split and merge them (mm/vma.c); vma-ops.ts applies them
// to an mm.

import type { Inode } from './shmem.ts';

export const VM_NONE = 0;
export const VM_READ = 1 << 0;
export const VM_WRITE = 1 << 1;
export const VM_EXEC = 1 << 2;
export const VM_SHARED = 1 << 3;
export const VM_MAYREAD = 1 << 4;
export const VM_MAYWRITE = 1 << 5;
export const VM_MAYEXEC = 1 << 6;
export const VM_MAYSHARE = 1 << 7;
export const VM_GROWSDOWN = 1 << 8;
export const VM_UFFD_MISSING = 1 << 9;
export const VM_PFNMAP = 1 << 10;
/** VM_MAYBE_GUARD: guard markers may be in the area's page tables (set by MADV_GUARD_INSTALL, never cleared) */
export const VM_MAYBE_GUARD = 1 << 11;
export const VM_UFFD_WP = 1 << 12;
export const VM_LOCKED = 1 << 13;
/**
 * VM_UFFD_MINOR is bit 41 in the kernel, past what a number's bitwise
 * operators reach: the model keeps it in bit 14 (VM_SEQ_READ, a hint it
 * does not model), and vmFlagsValue() puts it back where it belongs.
 */
export const VM_UFFD_MINOR = 1 << 14;
const VM_UFFD_MINOR_BIT = 41n;
/** __VM_UFFD_FLAGS: the modes an area is registered with a userfaultfd in */
export const VM_UFFD_FLAGS = VM_UFFD_MISSING | VM_UFFD_WP | VM_UFFD_MINOR;
/** MADV_DONTFORK: fork() leaves the area out of the child */
export const VM_DONTCOPY = 1 << 17;
export const VM_DONTEXPAND = 1 << 18;
export const VM_ACCOUNT = 1 << 20;
export const VM_NORESERVE = 1 << 21;
export const VM_HUGETLB = 1 << 22;
export const VM_SOFTDIRTY = 1 << 27;
export const VM_MIXEDMAP = 1 << 28;
export const VM_HUGEPAGE = 1 << 29;
export const VM_NOHUGEPAGE = 1 << 30;
export const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

/** show_smap_vma_flags(): the mnemonic of each flag bit, in bit order. */
export const VM_FLAG_MNEMONICS: readonly (readonly [number, string])[] = [
  [VM_READ, 'rd'],
  [VM_WRITE, 'wr'],
  [VM_EXEC, 'ex'],
  [VM_SHARED, 'sh'],
  [VM_MAYREAD, 'mr'],
  [VM_MAYWRITE, 'mw'],
  [VM_MAYEXEC, 'me'],
  [VM_MAYSHARE, 'ms'],
  [VM_GROWSDOWN, 'gd'],
  [VM_UFFD_MISSING, 'um'],
  [VM_PFNMAP, 'pf'],
  [VM_MAYBE_GUARD, 'gu'],
  [VM_UFFD_WP, 'uw'],
  [VM_LOCKED, 'lo'],
  [VM_DONTCOPY, 'dc'],
  [VM_DONTEXPAND, 'de'],
  [VM_ACCOUNT, 'ac'],
  [VM_NORESERVE, 'nr'],
  [VM_HUGETLB, 'ht'],
  [VM_SOFTDIRTY, 'sd'],
  [VM_MIXEDMAP, 'mm'],
  [VM_HUGEPAGE, 'hg'],
  [VM_NOHUGEPAGE, 'nh'],
  [VM_UFFD_MINOR, 'ui'],
];

/** vm_flags as the kernel holds them: VM_UFFD_MINOR at its own bit */
export function vmFlagsValue(flags: number): bigint {
  const minor = flags & VM_UFFD_MINOR ? 1n << VM_UFFD_MINOR_BIT : 0n;
  return BigInt(flags & ~VM_UFFD_MINOR) | minor;
}

/** What an area registered with a userfaultfd needs of it: its features (UFFD_FEATURE_WP_ASYNC, ...). */
export interface UffdContext {
  readonly features: bigint;
}

export class Vma {
  constructor(
    public start: bigint,
    public end: bigint,
    public flags: number,
    /** vm_pgoff: file offset of start, in pages (anonymous: start >> PAGE_SHIFT) */
    public pgoff: bigint,
    /** vm_file's inode; null for anonymous memory */
    public readonly file: Inode | null,
    /** vm_page_prot, as vma_set_page_prot() computed it */
    public pageProt: bigint,
    /** anon_vma: an id, set once an anonymous page was faulted in; shared by split halves */
    public anonVma: number | null = null,
    /** a private hugetlb mapping's resv_map: huge page indices still reserved; shared by split halves and mremap copies */
    public hugetlbResv: Set<bigint> | null = null,
  ) {}

  /** vm_userfaultfd_ctx: the userfaultfd the area is registered with */
  uffdCtx: UffdContext | null = null;

  /** a special mapping's name in /proc (vm_ops->name(): "[vvar]", ...); null for others */
  name: string | null = null;

  /** vma_is_anonymous() */
  get isAnonymous(): boolean {
    return this.file === null;
  }
  contains(addr: bigint): boolean {
    return addr >= this.start && addr < this.end;
  }
  /** the page index in the file (or the anonymous "file") of addr: linear_page_index() */
  pageIndex(addr: bigint): bigint {
    return ((addr - this.start) >> 12n) + this.pgoff;
  }
  clone(start: bigint, end: bigint): Vma {
    const v = new Vma(start, end, this.flags, this.pgoff + ((start - this.start) >> 12n), this.file, this.pageProt, this.anonVma, this.hugetlbResv);
    v.uffdCtx = this.uffdCtx;
    return v;
  }
}

/**
 * is_mergeable_vma() and the anon_vma/pgoff checks of can_vma_merge_*():
 * whether `a` directly followed by `b` can be one area. VM_SOFTDIRTY and
 * VM_MAYBE_GUARD (VMA_IGNORE_MERGE_FLAGS) do not keep areas apart.
 */
export function canMerge(a: Vma, b: Vma): boolean {
  if (a.end !== b.start) return false;
  if (((a.flags ^ b.flags) & ~(VM_SOFTDIRTY | VM_MAYBE_GUARD)) !== 0) return false;
  if (a.file !== b.file || a.uffdCtx !== b.uffdCtx) return false;
  if (a.pgoff + ((a.end - a.start) >> 12n) !== b.pgoff) return false;
  // is_mergeable_anon_vma(): an untouched area merges with anything, two anon_vmas only if one
  return a.anonVma === null || b.anonVma === null || a.anonVma === b.anonVma;
}

/** The areas of one mm, sorted by address (the maple tree's job). */
export class VmaList {
  private readonly list: Vma[] = [];

  all(): readonly Vma[] {
    return this.list;
  }
  /** find_vma(): the first area ending above addr */
  find(addr: bigint): Vma | null {
    return this.list.find((v) => v.end > addr) ?? null;
  }
  /** vma_lookup(): the area containing addr */
  lookup(addr: bigint): Vma | null {
    const v = this.find(addr);
    return v && v.start <= addr ? v : null;
  }
  /** areas overlapping [start, end) */
  overlapping(start: bigint, end: bigint): Vma[] {
    return this.list.filter((v) => v.start < end && v.end > start);
  }
  insert(v: Vma): void {
    const i = this.list.findIndex((x) => x.start >= v.end);
    this.list.splice(i === -1 ? this.list.length : i, 0, v);
  }
  remove(v: Vma): void {
    const i = this.list.indexOf(v);
    if (i >= 0) this.list.splice(i, 1);
  }
  prev(v: Vma): Vma | null {
    const i = this.list.indexOf(v);
    return i > 0 ? (this.list[i - 1] ?? null) : null;
  }
  next(v: Vma): Vma | null {
    const i = this.list.indexOf(v);
    return i >= 0 ? (this.list[i + 1] ?? null) : null;
  }
  /** split_vma(): cut v at addr; returns the upper part, inserted after v */
  split(v: Vma, addr: bigint): Vma {
    const upper = v.clone(addr, v.end);
    v.end = addr;
    this.insert(upper);
    return upper;
  }
}
