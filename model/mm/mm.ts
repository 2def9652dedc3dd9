// One process's address space (mm_struct): its areas, its page tables, and
// the system calls that change them (mm/mmap.c, mm/vma.c, mm/mprotect.c,
// mm/mremap.c, mm/madvise.c). Faults are in fault.ts.

import type { Pgtable, Pte } from '../arm64/pgtable.ts';
import { vmGetPageProt } from '../arm64/prot.ts';
import { access as hwAccess, type Access } from '../arm64/walk.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import * as U from '../../uapi/linux.ts';
import { faultinPage, handleMmFault, FAULT_FLAG_WRITE, type VmFault } from './fault.ts';
import { PAGE_SIZE, type Folio } from './physmem.ts';
import { PMD_MASK, PMD_SIZE, PageTables } from './pgtables.ts';
import { shmemEvict, type Inode } from './shmem.ts';
import { PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import type { System } from './system.ts';
import * as V from './vma.ts';
import { Vma, VmaList, canMerge, type UffdContext } from './vma.ts';
import { madvisePageout } from './vmscan.ts';
import { freeHugeFolio, HPAGE_SIZE, hugeAlign, hugetlbEvictInode, hugetlbReserve, hugetlbSizeOk, hugetlbSplitOk, hugetlbVmaClose } from './hugetlb.ts';

const PAGE = BigInt(PAGE_SIZE);
const PAGE_MASK = ~(PAGE - 1n);
const TASK_SIZE = 1n << 48n;
/** mmap_base without randomisation: top-down allocation starts here */
const MMAP_BASE = 0xffff_8000_0000n;

/** The errno of a result, named for the call that failed, or null. */
const errnoOf = (r: Ret<unknown>, call: string): Errno | null => (r instanceof Errno ? new Errno(r.name, call) : null);
const pageAligned = (x: bigint) => (x & (PAGE - 1n)) === 0n;
const pageAlign = (x: bigint) => (x + PAGE - 1n) & PAGE_MASK;

/** A file as mmap() sees it: its inode and whether it was opened for writing. */
export interface MappedFile {
  readonly inode: Inode;
  readonly writable: boolean;
}

export class Mm {
  readonly vmas = new VmaList();
  readonly pt: PageTables;

  constructor(readonly sys: System) {
    this.pt = new PageTables(sys.cfg.kernel.tableAf);
    // A process's vdso and libraries sit just below mmap_base, so the tables down to a pmd table
    // are there from the start (a hugetlb walk sees an entry, not a hole: measured, PAGE_IS_HUGE).
    this.pt.pmdSlot(MMAP_BASE - PAGE, true);
  }

  get pg(): Pgtable {
    return this.sys.pg;
  }

  // --- soft-dirty and write-notify (include/linux/mm.h, mm/mmap.c) -------------

  /** VM_SOFTDIRTY, or 0 where the page tables have no soft-dirty bit */
  get vmSoftdirty(): number {
    return this.pg.hasSoftDirty ? V.VM_SOFTDIRTY : 0;
  }
  // vma_soft_dirty_enabled(): tracking is on while VM_SOFTDIRTY is clear
  vmaSoftDirtyEnabled(vma: Vma): boolean {
    return this.pg.hasSoftDirty && (vma.flags & V.VM_SOFTDIRTY) === 0;
  }
  // pte_needs_soft_dirty_wp()
  pteNeedsSoftDirtyWp(vma: Vma, pte: Pte): boolean {
    return this.vmaSoftDirtyEnabled(vma) && !this.pg.pteSoftDirty(pte);
  }
  // vma_wants_writenotify(): tmpfs has no page_mkwrite and no writeback
  vmaWantsWritenotify(vma: Vma, prot: bigint): boolean {
    if ((vma.flags & (V.VM_WRITE | V.VM_SHARED)) !== (V.VM_WRITE | V.VM_SHARED)) return false;
    // "the open routine did something to the protections": so does writenotify itself, once applied
    // (vm_pgprot_modify() takes all but the memory type from the flags; tmpfs has no page_mkwrite to ask first)
    if (prot !== this.pageProtFor(vma.flags)) return false;
    // hugetlb has no soft-dirty tracking (f96f7a40874d)
    if (this.vmaSoftDirtyEnabled(vma) && !(vma.flags & V.VM_HUGETLB)) return true;
    return (vma.flags & V.VM_UFFD_WP) !== 0;
  }
  // vma_set_page_prot()
  vmaSetPageProt(vma: Vma): void {
    let flags = vma.flags;
    if (this.vmaWantsWritenotify(vma, this.pageProtFor(flags))) flags &= ~V.VM_SHARED;
    vma.pageProt = this.pageProtFor(flags);
  }
  // vma_wants_manual_pte_write_upgrade(): never for a shared area whose protection writenotify already changed
  vmaWantsManualPteWriteUpgrade(vma: Vma): boolean {
    if (vma.flags & V.VM_SHARED) return this.vmaWantsWritenotify(vma, vma.pageProt);
    return (vma.flags & V.VM_WRITE) !== 0;
  }

  // --- rmap and page-table entry bookkeeping ----------------------------------

  /** vm_normal_page(): the folio behind a present pte, none for special ones (zero page) */
  vmNormalFolio(pte: Pte): Folio | null {
    if (this.pg.pteSpecial(pte)) return null;
    return this.sys.phys.folioOf(this.pg.ptePfn(pte));
  }

  /** Drops one mapping of the page a pte or pmd mapped; frees anonymous folios nobody maps. */
  private unmapFolio(f: Folio, pfn: bigint | null): void {
    if (pfn === null) f.pmdMapped--;
    else f.mapcount[f.pageIndex(pfn)]!--;
    if (f.anon && !f.mapped()) this.sys.phys.free(f);
  }

  /**
   * zap_pte_range()/zap_huge_pmd() over [start, end) of one area. Unless
   * `dropMarkers` (ZAP_FLAG_DROP_MARKER: munmap), a file area registered
   * for uffd-wp keeps its markers and leaves one where a uffd-wp pte was
   * (zap_install_uffd_wp_if_needed()); an anonymous area drops them all.
   */
  zapRange(start: bigint, end: bigint, dropMarkers: boolean): void {
    const vma = this.vmas.lookup(start);
    const keepMarkers = !dropMarkers && vma !== null && !vma.isAnonymous;
    const keepUffdWp = keepMarkers && (vma.flags & V.VM_UFFD_WP) !== 0;
    for (const { addr, slot, val } of [...this.pt.pmdsIn(start, end)]) {
      if (this.pt.pmdIsTable(val)) continue;
      // a huge pmd: a partial zap splits it first (__split_huge_pmd())
      if (addr >= start && addr + PMD_SIZE <= end) this.zapPmd(addr, slot, val, dropMarkers);
      else this.splitHugePmd(addr);
    }
    // swap_pte_batch(): a run of swap ptes for consecutive slots, alike but for the offset
    let run: { readonly addr: bigint; readonly pte: Pte; readonly offsets: bigint[] } | null = null;
    const endRun = () => {
      if (run) this.sys.swap?.freeEntries(run.offsets);
      run = null;
    };
    this.pt.updatePtes(start, end, (addr, pte) => {
      if (this.pg.ptePresent(pte)) {
        endRun();
        const f = this.vmNormalFolio(pte);
        if (f) this.unmapFolio(f, this.pg.ptePfn(pte));
        return keepUffdWp && this.pg.pteUffdWp(pte) ? this.pg.makePteMarker(PTE_MARKER_UFFD_WP) : 0n;
      }
      if (this.pg.pteMarkerUffdWp(pte)) return keepMarkers ? pte : 0n;
      const e = this.pg.pteToSwpEntry(pte);
      if (!this.pg.isSwapEntry(e)) return 0n;
      const offset = this.pg.swpOffset(e);
      const n = run ? BigInt(run.offsets.length) : 0n;
      if (run && addr === run.addr + n * PAGE && offset === run.offsets[0]! + n && this.swapPteLike(run.pte, pte)) run.offsets.push(offset);
      else {
        endRun();
        run = { addr, pte, offsets: [offset] };
      }
      return 0n;
    });
    endRun();
  }

  /** Two swap ptes alike but for their offsets (same device, same exclusive, soft-dirty and uffd-wp bits). */
  private swapPteLike(a: Pte, b: Pte): boolean {
    const pg = this.pg;
    return (
      pg.swpType(pg.pteToSwpEntry(a)) === pg.swpType(pg.pteToSwpEntry(b)) &&
      pg.pteSwpExclusive(a) === pg.pteSwpExclusive(b) &&
      pg.pteSwpSoftDirty(a) === pg.pteSwpSoftDirty(b) &&
      pg.pteSwpUffdWp(a) === pg.pteSwpUffdWp(b)
    );
  }

  private zapPmd(addr: bigint, slot: bigint, pmd: bigint, dropMarkers: boolean): void {
    // __unmap_hugepage_range(): unless dropping markers, a hugetlb entry write-protected by uffd-wp leaves one
    const vma = this.vmas.lookup(addr);
    const marker = !dropMarkers && vma !== null && (vma.flags & V.VM_HUGETLB) !== 0 && (this.pg.pmdPresent(pmd) ? this.pg.pteUffdWp(pmd) : this.pg.pteSwpUffdWpAny(pmd));
    this.pt.write(slot, marker ? this.pg.makePteMarker(PTE_MARKER_UFFD_WP) : 0n);
    if (!this.pg.pmdPresent(pmd)) return;
    const f = this.sys.phys.folioOf(this.pg.pmdPfn(pmd));
    if (!f || this.sys.phys.isZeroPfn(f.pfn)) return;
    if (f.hugetlb && f.anon) {
      // __unmap_hugepage_range(): a private huge page goes back to the pool
      f.pmdMapped--;
      freeHugeFolio(this, vma, addr, f);
      return;
    }
    this.unmapFolio(f, null);
  }

  /**
   * __split_huge_pmd_locked(): a pmd-mapped THP becomes 512 ptes carrying its
   * young, dirty, write, soft-dirty and uffd-wp state; the huge zero page
   * becomes 512 zero-page ptes.
   */
  splitHugePmd(haddr: bigint): void {
    const slot = this.pt.pmdSlot(haddr, false);
    if (slot === null) return;
    const pmd = this.pt.read(slot);
    if (pmd === 0n || this.pt.pmdIsTable(pmd) || !this.pg.pmdPresent(pmd)) return;
    const vma = this.vmas.lookup(haddr);
    const prot = vma?.pageProt ?? 0n;
    const pg = this.pg;
    const phys = this.sys.phys;
    // pmdp_invalidate(): present-invalid while the table is rebuilt
    this.pt.write(slot, pg.pmdMkinvalid(pmd));
    this.pt.write(slot, 0n);
    const base = pg.pmdPfn(pmd);
    const zero = phys.isZeroPfn(base);
    const f = zero ? null : phys.folioOf(base);
    for (let i = 0n; i < 512n; i++) {
      const a = haddr + i * PAGE;
      let pte: Pte;
      if (zero) {
        pte = pg.pteMkspecial(pg.pfnPte(phys.zeroPfn, prot));
      } else {
        pte = pg.pfnPte(base + i, prot);
        if (pg.pteWrite(pmd)) pte = pg.pteMkwrite(pte);
        if (!pg.pteYoung(pmd)) pte = pg.pteMkold(pte);
        // "NOTE: this may set soft-dirty too on some archs"
        if (pg.pteDirty(pmd)) pte = pg.pteMkdirty(pte);
        if (pg.pteSoftDirty(pmd)) pte = pg.pteMksoftDirty(pte);
        else pte = pg.pteClearSoftDirty(pte);
      }
      if (pg.pteUffdWp(pmd)) pte = pg.pteMkuffdWp(pte);
      this.pt.write(this.pt.pteSlot(a, true)!, pte);
      if (f) f.mapcount[f.pageIndex(base + i)]!++;
    }
    if (f) {
      f.pmdMapped--;
      if (pg.pteDirty(pmd)) f.dirty = true;
    }
  }

  /** free_pgtables(): pte tables no area uses any more go away. */
  private freePgtables(start: bigint, end: bigint): void {
    for (const { addr, slot, val } of [...this.pt.pmdsIn(start, end)]) {
      if (!this.pt.pmdIsTable(val)) continue;
      if (this.vmas.overlapping(addr, addr + PMD_SIZE).length === 0) this.pt.freePteTable(slot);
    }
  }

  // --- areas: finding room, merging, splitting --------------------------------

  /** vm_unmapped_area() top-down: the highest gap below MMAP_BASE that fits */
  private unmappedArea(len: bigint, align: bigint): bigint | null {
    let top = MMAP_BASE;
    const areas = this.vmas.all();
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
  private getUnmappedArea(addr: bigint, len: bigint, anon: boolean, align: bigint): Ret<bigint> {
    if (len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
    if (addr !== 0n) {
      addr = (addr + align - 1n) & ~(align - 1n);
      if (TASK_SIZE - len >= addr && this.vmas.overlapping(addr, addr + len).length === 0) return addr;
    }
    const thpAlign = anon && addr === 0n && len % PMD_SIZE === 0n;
    const found = this.unmappedArea(len, thpAlign ? PMD_SIZE : align);
    return found ?? new Errno('ENOMEM', 'mmap');
  }

  /** A new area's merge with its neighbours (vma_merge_new_range()); returns the area now covering it. */
  private mergeNew(v: Vma): Vma {
    const prev = this.vmas.all().filter((x) => x.end <= v.start).at(-1) ?? null;
    const next = this.vmas.all().find((x) => x.start >= v.end) ?? null;
    const withPrev = prev !== null && canMerge(prev, v);
    const withNext = next !== null && canMerge(v, next) && (!withPrev || canMerge(prev, next));
    const sticky = this.stickyFrom([v, ...(withPrev ? [prev] : []), ...(withNext && next ? [next] : [])]);
    if (withPrev) {
      prev.end = withNext && next ? next.end : v.end;
      if (withNext && next) this.vmas.remove(next);
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
    this.vmas.insert(v);
    return v;
  }

  /** VMA_STICKY_FLAGS: what a merge carries over from every part (v6.19+) */
  private stickyFrom(parts: readonly Vma[]): number {
    if (!this.sys.cfg.kernel.vmaStickySoftDirty) return 0;
    return parts.reduce((acc, p) => acc | (p.flags & this.vmSoftdirty), 0);
  }

  /**
   * vma_modify_flags(): gives [start, end) of v new flags, splitting v and
   * merging the result with its neighbours where they match; returns the
   * area now covering the range. mprotect_fixup() then resets the flags to
   * the new ones (plus sticky flags from a merge).
   */
  modifyFlags(v: Vma, start: bigint, end: bigint, flags: number, uffdCtx: UffdContext | null = v.uffdCtx): Ret<Vma> {
    // vma_modify(): the split at start stays even when the one at end fails
    if (start > v.start) {
      const upper = this.splitVma(v, start);
      if (upper instanceof Errno) return upper;
      v = upper;
    }
    if (end < v.end) {
      const upper = this.splitVma(v, end);
      if (upper instanceof Errno) return upper;
    }
    v.flags = flags;
    v.uffdCtx = uffdCtx;
    const prev = this.vmas.prev(v);
    const next = this.vmas.next(v);
    let result = v;
    if (prev && canMerge(prev, v)) {
      const sticky = this.stickyFrom([prev, v]);
      prev.end = v.end;
      prev.anonVma ??= v.anonVma;
      this.vmas.remove(v);
      prev.flags = flags | sticky;
      result = prev;
    }
    if (next && canMerge(result, next)) {
      const sticky = this.stickyFrom([result, next]);
      result.end = next.end;
      result.anonVma ??= next.anonVma;
      this.vmas.remove(next);
      result.flags = flags | sticky;
    }
    return result;
  }

  /** vm_get_page_prot() */
  pageProtFor(flags: number): bigint {
    return vmGetPageProt(this.sys.prots, flags);
  }

  // --- mmap / munmap ----------------------------------------------------------

  // do_mmap() + mmap_region()
  mmap(addr: bigint, len: bigint, prot: number, flags: number, file: MappedFile | null, offset: bigint): Ret<bigint> {
    if (len === 0n) return new Errno('EINVAL', 'mmap');
    if (!pageAligned(offset)) return new Errno('EINVAL', 'mmap');
    len = pageAlign(len);
    if (len === 0n || len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
    const type = flags & U.MAP_TYPE;
    if (type !== U.MAP_SHARED && type !== U.MAP_PRIVATE) return new Errno('EINVAL', 'mmap');
    const anonymous = (flags & U.MAP_ANONYMOUS) !== 0;
    if (!anonymous && file === null) return new Errno('EBADF', 'mmap');
    // ksys_mmap_pgoff(): MAP_HUGETLB memory is a file on an internal hugetlbfs, in whole huge pages
    const hugetlb = (flags & U.MAP_HUGETLB) !== 0;
    if (hugetlb && (!anonymous || !hugetlbSizeOk(flags))) return new Errno('EINVAL', 'mmap');
    if (hugetlb) len = hugeAlign(len);

    let vmFlags = (prot & (U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC)) | V.VM_MAYREAD | V.VM_MAYWRITE | V.VM_MAYEXEC;
    let inode: Inode | null = anonymous ? null : file!.inode;
    let pgoff = offset >> 12n;
    if (type === U.MAP_SHARED) {
      if (!anonymous && !file!.writable) {
        if (prot & U.PROT_WRITE) return new Errno('EACCES', 'mmap');
        vmFlags &= ~V.VM_MAYWRITE;
      }
      vmFlags |= V.VM_SHARED | V.VM_MAYSHARE;
    } else if ((vmFlags & (V.VM_WRITE | V.VM_NORESERVE)) === V.VM_WRITE && !hugetlb) {
      vmFlags |= V.VM_ACCOUNT; // accountable_mapping()
    }
    if (flags & U.MAP_NORESERVE) vmFlags |= V.VM_NORESERVE;
    if (hugetlb) vmFlags |= V.VM_HUGETLB | V.VM_DONTEXPAND; // hugetlbfs_file_mmap()
    const align = hugetlb ? HPAGE_SIZE : PAGE;

    let start: bigint;
    if (flags & (U.MAP_FIXED | U.MAP_FIXED_NOREPLACE)) {
      if (addr & (align - 1n)) return new Errno('EINVAL', 'mmap');
      if (addr + len > TASK_SIZE) return new Errno('ENOMEM', 'mmap');
      if (flags & U.MAP_FIXED_NOREPLACE && this.vmas.overlapping(addr, addr + len).length > 0) return new Errno('EEXIST', 'mmap');
      start = addr;
    } else {
      const got = this.getUnmappedArea(addr, len, anonymous && type === U.MAP_PRIVATE && !hugetlb, align);
      if (got instanceof Errno) return got;
      start = got;
    }
    // mmap_region(): the areas it replaces are cut first, before the new file's ->mmap() reserves
    const cut = this.splitEdges(start, start + len);
    if (cut) return new Errno(cut.name, 'mmap');
    let hugetlbResv: Set<bigint> | null = null;
    if (hugetlb) {
      inode = this.sys.tmpfs.create('/anon_hugepage', false, true); // hugetlb_file_setup()
      inode.mappingOnly = true;
      inode.size = len;
      pgoff = 0n;
      const r = hugetlbReserve(this, inode, len / HPAGE_SIZE, vmFlags);
      if (r instanceof Errno) return r;
      hugetlbResv = r;
    }
    this.doMunmap(start, len);

    if (anonymous && !hugetlb) {
      if (type === U.MAP_SHARED) {
        inode = this.sys.tmpfs.create('/dev/zero', false); // shmem_zero_setup()
        inode.mappingOnly = true;
        inode.size = len;
        pgoff = 0n;
      } else {
        pgoff = start >> 12n;
      }
    }
    // __mmap_complete(): every new mapping starts soft-dirty
    vmFlags |= this.vmSoftdirty;
    const fresh = new Vma(start, start + len, vmFlags, pgoff, inode, 0n, null, hugetlbResv);
    const vma = inode === null ? this.mergeNew(fresh) : (this.vmas.insert(fresh), fresh);
    this.vmaSetPageProt(vma);
    if (flags & U.MAP_POPULATE) this.populate(start, start + len, (vmFlags & V.VM_WRITE) !== 0 && type === U.MAP_SHARED);
    return start;
  }

  /** mm_populate(): errors are ignored */
  private populate(start: bigint, end: bigint, write: boolean): void {
    for (let a = start; a < end; a += PAGE) {
      const v = this.vmas.lookup(a);
      if (v) faultinPage(this, v, a, write);
    }
  }

  munmap(addr: bigint, len: bigint): Ret<0> {
    if (!pageAligned(addr) || len === 0n || addr > TASK_SIZE || len > TASK_SIZE - addr) return new Errno('EINVAL', 'munmap');
    return this.doMunmap(addr, pageAlign(len)) ?? 0;
  }

  /** __split_vma(): v cut at addr, the upper part returned; vm_ops->may_split() lets hugetlb be cut only on huge page boundaries. */
  private splitVma(v: Vma, addr: bigint): Ret<Vma> {
    if (!hugetlbSplitOk(v, addr)) return new Errno('EINVAL', '');
    return this.vmas.split(v, addr);
  }

  /**
   * vms_gather_munmap_vmas(): the areas over [start, end) cut at its edges,
   * the first area at start, then the last at end; a failed cut leaves the
   * ones before it made.
   */
  private splitEdges(start: bigint, end: bigint): Errno | null {
    const first = this.vmas.overlapping(start, end)[0];
    if (first && start > first.start) {
      const r = this.splitVma(first, start);
      if (r instanceof Errno) return r;
    }
    const last = this.vmas.overlapping(start, end).at(-1);
    if (last && end < last.end) {
      const r = this.splitVma(last, end);
      if (r instanceof Errno) return r;
    }
    return null;
  }

  // do_vmi_munmap(): split at the edges, zap, drop the areas and their tables
  doMunmap(start: bigint, len: bigint): Errno | null {
    const end = start + len;
    const cut = this.splitEdges(start, end);
    if (cut) return new Errno(cut.name, 'munmap');
    for (const cur of this.vmas.overlapping(start, end)) {
      this.zapRange(cur.start, cur.end, true);
      hugetlbVmaClose(this, cur, cur.start, cur.end);
      this.vmas.remove(cur);
      // the last mapping of shared anonymous memory or a MAP_HUGETLB file closes it (fput() -> evict)
      const inode = cur.file;
      if (inode?.mappingOnly && !this.vmas.all().some((x) => x.file === inode)) {
        if (inode.hugetlb) hugetlbEvictInode(this, inode);
        else shmemEvict(this.sys, inode);
      }
    }
    this.freePgtables(start, end);
    return null;
  }

  // --- mprotect ---------------------------------------------------------------

  // do_mprotect_pkey()
  mprotect(addr: bigint, len: bigint, prot: number): Ret<0> {
    if (!pageAligned(addr)) return new Errno('EINVAL', 'mprotect');
    if (prot & ~(U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC)) return new Errno('EINVAL', 'mprotect');
    len = pageAlign(len);
    const end = addr + len;
    if (end < addr) return new Errno('ENOMEM', 'mprotect');
    if (len === 0n) return 0;
    // the whole range must be mapped, without holes
    let cursor = addr;
    const areas = this.vmas.overlapping(addr, end);
    for (const v of areas) {
      if (v.start > cursor) return new Errno('ENOMEM', 'mprotect');
      const want = prot & (U.PROT_READ | U.PROT_WRITE | U.PROT_EXEC);
      if ((want & ~(v.flags >> 4)) & V.VM_ACCESS_FLAGS) return new Errno('EACCES', 'mprotect');
      cursor = v.end;
    }
    if (cursor < end) return new Errno('ENOMEM', 'mprotect');
    for (const v of this.vmas.overlapping(addr, end)) {
      const s = v.start > addr ? v.start : addr;
      const e = v.end < end ? v.end : end;
      const err = this.mprotectFixup(v, s, e, (v.flags & ~V.VM_ACCESS_FLAGS) | prot);
      if (err) return new Errno(err.name, 'mprotect');
    }
    return 0;
  }

  // mprotect_fixup()
  private mprotectFixup(v: Vma, start: bigint, end: bigint, newflags: number): Errno | null {
    if (newflags === v.flags) return null;
    if (newflags & V.VM_WRITE && !(v.flags & (V.VM_ACCOUNT | V.VM_WRITE | V.VM_HUGETLB | V.VM_SHARED | V.VM_NORESERVE)))
      newflags |= V.VM_ACCOUNT;
    const vma = this.modifyFlags(v, start, end, newflags);
    if (vma instanceof Errno) return vma;
    this.vmaSetPageProt(vma);
    this.changeProtection(vma, start, end, this.vmaWantsManualPteWriteUpgrade(vma));
    return null;
  }

  /**
   * change_protection() -> change_pte_range() / change_huge_pmd(): every
   * entry of [start, end) to vma's protection, or (uffd) to `prot` with
   * uffd-wp set (MM_CP_UFFD_WP: markers in empty ptes where the area uses
   * them) or cleared (MM_CP_UFFD_WP_RESOLVE).
   */
  changeProtection(vma: Vma, start: bigint, end: bigint, tryChangeWritable: boolean, uffd: 'wp' | 'resolve' | null = null, prot = vma.pageProt): void {
    const pg = this.pg;
    if (vma.flags & V.VM_HUGETLB) {
      // hugetlb_change_protection(): no write upgrade, the next store faults; uffd-wp puts markers
      // in none entries (allocating the table) and resolving takes them away
      for (let addr = start & PMD_MASK; addr < end; addr += PMD_SIZE) {
        const slot = this.pt.pmdSlot(addr, uffd === 'wp');
        if (slot === null) continue;
        const val = this.pt.read(slot);
        if (val === 0n) {
          if (uffd === 'wp') this.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
        } else if (pg.isPteMarker(val)) {
          if (uffd === 'resolve') this.pt.write(slot, 0n);
        } else if (pg.pmdPresent(val)) {
          let entry = pg.pmdMkhuge(pg.pteModify(val, prot));
          if (uffd === 'wp') entry = pg.pteMkuffdWp(entry);
          else if (uffd === 'resolve') entry = pg.pteClearUffdWp(entry);
          this.pt.write(slot, entry);
        }
      }
      return;
    }
    const modify = (entry: Pte): Pte => {
      let next = pg.pteModify(entry, prot);
      if (uffd === 'wp') next = pg.pteMkuffdWp(next);
      else if (uffd === 'resolve') next = pg.pteClearUffdWp(next);
      return tryChangeWritable && !pg.pteWrite(next) && this.canChangePteWritable(vma, next) ? pg.pteMkwrite(next) : next;
    };
    // change_softleaf_pte(): swap entries carry uffd-wp; a resolved marker goes
    const softleaf = (pte: Pte): Pte => {
      if (pg.isPteMarker(pte)) return uffd === 'resolve' ? 0n : pte;
      if (uffd === 'wp') return pg.pteSwpMkuffdWp(pte);
      if (uffd === 'resolve') return pg.pteSwpClearUffdWp(pte);
      return pte;
    };
    const markers = uffd === 'wp' && this.uffdWpUseMarkers(vma);
    for (const { addr, slot, val } of [...this.pt.pmdsIn(start, end)]) {
      if (this.pt.pmdIsTable(val)) continue;
      if (addr < start || addr + PMD_SIZE > end) this.splitHugePmd(addr);
      else if (pg.pmdPresent(val)) this.pt.write(slot, modify(val));
    }
    // change_pmd_prepare(): markers need pte tables under the whole range
    if (markers) for (let a = start; a < end; a = (a & PMD_MASK) + PMD_SIZE) if (this.pt.pmdVal(a) === 0n) this.pt.pteSlot(a, true);
    this.pt.forEachPteSlot(start, end, (_, slot, pte) => {
      if (pte === 0n) {
        if (markers) this.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
      } else this.pt.write(slot, pg.ptePresent(pte) ? modify(pte) : softleaf(pte));
    });
  }

  // userfaultfd_wp_use_markers(): file memory always, anonymous only with UFFD_FEATURE_WP_UNPOPULATED
  uffdWpUseMarkers(vma: Vma): boolean {
    if (!(vma.flags & V.VM_UFFD_WP)) return false;
    return !vma.isAnonymous || ((vma.uffdCtx?.features ?? 0n) & U.UFFD_FEATURE_WP_UNPOPULATED) !== 0n;
  }

  // userfaultfd_wp_async()
  uffdWpAsync(vma: Vma): boolean {
    return ((vma.uffdCtx?.features ?? 0n) & U.UFFD_FEATURE_WP_ASYNC) !== 0n;
  }

  // can_change_pte_writable()
  canChangePteWritable(vma: Vma, pte: Pte): boolean {
    if (!(vma.flags & V.VM_WRITE)) return false;
    if (this.pg.pteProtnone(pte)) return false;
    if (this.pteNeedsSoftDirtyWp(vma, pte)) return false;
    if (vma.flags & V.VM_UFFD_WP && this.pg.pteUffdWp(pte)) return false;
    if (!(vma.flags & V.VM_SHARED)) {
      const f = this.vmNormalFolio(pte);
      return f !== null && f.anon && f.anonExclusive[f.pageIndex(this.pg.ptePfn(pte))] === 1;
    }
    return this.pg.pteDirty(pte);
  }

  // --- mremap -----------------------------------------------------------------

  mremap(oldAddr: bigint, oldLen: bigint, newLen: bigint, flags: number, newAddr: bigint): Ret<bigint> {
    if (flags & ~(U.MREMAP_MAYMOVE | U.MREMAP_FIXED | U.MREMAP_DONTUNMAP)) return new Errno('EINVAL', 'mremap');
    if (flags & U.MREMAP_FIXED && !(flags & U.MREMAP_MAYMOVE)) return new Errno('EINVAL', 'mremap');
    if (!pageAligned(oldAddr)) return new Errno('EINVAL', 'mremap');
    oldLen = pageAlign(oldLen);
    newLen = pageAlign(newLen);
    if (newLen === 0n) return new Errno('EINVAL', 'mremap');
    const vma = this.vmas.lookup(oldAddr);
    if (!vma) return new Errno('EFAULT', 'mremap');
    if (vma.flags & V.VM_HUGETLB) {
      // align_hugetlb(): lengths round up to huge pages, addresses must be aligned, no growing
      oldLen = hugeAlign(oldLen);
      newLen = hugeAlign(newLen);
      if ((oldAddr | newAddr) & (HPAGE_SIZE - 1n) || newLen > oldLen) return new Errno('EINVAL', 'mremap');
    }
    if (oldAddr + oldLen > vma.end) return new Errno('EFAULT', 'mremap');
    if (!(flags & U.MREMAP_FIXED)) {
      if (newLen !== oldLen) return new Errno('ENOMEM', 'mremap'); // growing/shrinking in place: not modelled
      return oldAddr;
    }
    if (!pageAligned(newAddr)) return new Errno('EINVAL', 'mremap');
    if (newAddr + newLen > oldAddr && oldAddr + oldLen > newAddr) return new Errno('EINVAL', 'mremap');
    if (newLen !== oldLen) return new Errno('ENOMEM', 'mremap');
    const unmapped = this.doMunmap(newAddr, newLen);
    if (unmapped) return unmapped;
    return this.moveVma(this.vmas.lookup(oldAddr)!, oldAddr, oldLen, newAddr);
  }

  // move_vma(): copy_vma(), move_page_tables(), then unmap the old range
  private moveVma(vma: Vma, oldAddr: bigint, len: bigint, newAddr: bigint): bigint {
    let pgoff = vma.pgoff + ((oldAddr - vma.start) >> 12n);
    // copy_vma(): an anonymous area never faulted takes the pgoff of its new place
    if (vma.isAnonymous && vma.anonVma === null) pgoff = newAddr >> 12n;
    // mremap_userfaultfd_prep(): without UFFD_FEATURE_EVENT_REMAP the copy leaves the userfaultfd
    const leavesUffd = this.uffdWithoutEventRemap(vma);
    const flags = leavesUffd ? vma.flags & ~V.VM_UFFD_WP : vma.flags;
    // vm_area_dup(): the copy shares a private hugetlb mapping's reservations
    const copy = new Vma(newAddr, newAddr + len, flags, pgoff, vma.file, vma.pageProt, vma.anonVma, vma.hugetlbResv);
    copy.uffdCtx = leavesUffd ? null : vma.uffdCtx;
    const target = vma.isAnonymous ? this.mergeNew(copy) : (this.vmas.insert(copy), copy);
    this.movePageTables(oldAddr, newAddr, len, (vma.flags & V.VM_HUGETLB) !== 0, leavesUffd);
    this.vmaSetPageProt(target);
    // fixup_hugetlb_reservations(): the whole old area lets go of them, unreleased; what it still maps is left unreserved
    vma.hugetlbResv = null;
    this.doMunmap(oldAddr, len);
    return newAddr;
  }

  // vma_has_uffd_without_event_remap(); a context that wants remap events needs a handler, which is not modelled
  private uffdWithoutEventRemap(vma: Vma): boolean {
    if (!vma.uffdCtx) return false;
    if (vma.uffdCtx.features & U.UFFD_FEATURE_EVENT_REMAP) throw new Error('userfaultfd: mremap with UFFD_FEATURE_EVENT_REMAP sends an event to a handler, which is not modelled');
    return true;
  }

  /**
   * move_ptes() / move_huge_pmd(): moved entries become soft-dirty
   * (move_soft_dirty_pte()), move_huge_pte() for hugetlb does not; with
   * `clearUffdWp` they lose uffd-wp and markers are dropped (0cef0bb836e3).
   */
  private movePageTables(oldAddr: bigint, newAddr: bigint, len: bigint, hugetlb: boolean, clearUffdWp: boolean): void {
    const pg = this.pg;
    const uffdCleared = (e: Pte, present: boolean): Pte => (!clearUffdWp ? e : present ? pg.pteClearUffdWp(e) : pg.pteSwpClearUffdWp(e));
    for (let off = 0n; off < len; off += PAGE) {
      const from = oldAddr + off;
      const to = newAddr + off;
      const pmdSlot = this.pt.pmdSlot(from, false);
      if (pmdSlot === null) continue;
      const pmd = this.pt.read(pmdSlot);
      if (pmd !== 0n && !this.pt.pmdIsTable(pmd)) {
        const aligned = (from & ~PMD_MASK) === 0n && (to & ~PMD_MASK) === 0n && len - off >= PMD_SIZE;
        if (aligned) {
          this.pt.write(pmdSlot, 0n);
          off += PMD_SIZE - PAGE;
          // move_huge_pte(): a hugetlb uffd-wp marker is dropped with the rest of uffd-wp
          if (clearUffdWp && pg.pteMarkerUffdWp(pmd)) continue;
          const moved = hugetlb ? pmd : pg.pmdPresent(pmd) ? pg.pteMksoftDirty(pmd) : pg.pteSwpMksoftDirty(pmd);
          this.pt.write(this.pt.pmdSlot(to, true)!, uffdCleared(moved, pg.pmdPresent(pmd)));
          continue;
        }
        this.splitHugePmd(from & PMD_MASK);
      }
      const s = this.pt.pteSlot(from, false);
      if (s === null) continue;
      const pte = this.pt.read(s);
      if (pte === 0n) continue;
      this.pt.write(s, 0n);
      if (clearUffdWp && pg.pteMarkerUffdWp(pte)) continue;
      const moved = pg.ptePresent(pte) ? pg.pteMksoftDirty(pte) : pg.pteSwpMksoftDirty(pte);
      this.pt.write(this.pt.pteSlot(to, true)!, uffdCleared(moved, pg.ptePresent(pte)));
    }
  }

  // --- madvise ----------------------------------------------------------------

  madvise(addr: bigint, len: bigint, advice: number): Ret<0> {
    const known = [U.MADV_NORMAL, U.MADV_DONTNEED, U.MADV_HUGEPAGE, U.MADV_NOHUGEPAGE, U.MADV_PAGEOUT, U.MADV_POPULATE_READ, U.MADV_POPULATE_WRITE];
    if (!known.includes(advice)) return new Errno('EINVAL', 'madvise');
    if (!pageAligned(addr)) return new Errno('EINVAL', 'madvise');
    const end = addr + pageAlign(len);
    if (end < addr) return new Errno('EINVAL', 'madvise');
    if (end === addr) return 0;
    if (advice === U.MADV_POPULATE_READ || advice === U.MADV_POPULATE_WRITE)
      return this.madvisePopulate(addr, end, advice === U.MADV_POPULATE_WRITE);
    // madvise_walk_vmas(): apply to each area; a hole means ENOMEM after the rest is done
    let hole = false;
    let cursor = addr;
    for (const v of this.vmas.overlapping(addr, end)) {
      if (v.start > cursor) hole = true;
      const s = v.start > addr ? v.start : addr;
      const e = v.end < end ? v.end : end;
      const err = this.madviseVma(v, s, e, advice);
      if (err) return err;
      cursor = e;
    }
    return hole || cursor < end ? new Errno('ENOMEM', 'madvise') : 0;
  }

  private madviseVma(v: Vma, start: bigint, end: bigint, advice: number): Errno | null {
    switch (advice) {
      case U.MADV_DONTNEED:
        // madvise_dontneed_free_valid_vma(): hugetlb from a huge page boundary, whole huge pages only
        if (v.flags & (V.VM_LOCKED | V.VM_PFNMAP)) return new Errno('EINVAL', 'madvise');
        if (v.flags & V.VM_HUGETLB) {
          if (start & (HPAGE_SIZE - 1n)) return new Errno('EINVAL', 'madvise');
          end &= ~(HPAGE_SIZE - 1n);
        }
        if (end > start) this.zapRange(start, end, false);
        return null;
      case U.MADV_PAGEOUT:
        // can_madv_lru_vma()
        if (v.flags & (V.VM_LOCKED | V.VM_PFNMAP | V.VM_HUGETLB)) return new Errno('EINVAL', 'madvise');
        madvisePageout(this, v, start, end);
        return null;
      case U.MADV_HUGEPAGE:
        return errnoOf(this.modifyFlags(v, start, end, (v.flags & ~V.VM_NOHUGEPAGE) | V.VM_HUGEPAGE), 'madvise');
      case U.MADV_NOHUGEPAGE:
        return errnoOf(this.modifyFlags(v, start, end, (v.flags & ~V.VM_HUGEPAGE) | V.VM_NOHUGEPAGE), 'madvise');
      default:
        return null;
    }
  }

  // madvise_populate() over faultin_page_range() (FOLL_MADV_POPULATE)
  private madvisePopulate(start: bigint, end: bigint, write: boolean): Ret<0> {
    for (let a = start; a < end; a += PAGE) {
      const v = this.vmas.lookup(a);
      if (!v) return new Errno('ENOMEM', 'madvise');
      // check_vma_flags()
      if (v.flags & (V.VM_PFNMAP)) return new Errno('EINVAL', 'madvise');
      if (write ? !(v.flags & V.VM_WRITE) : !(v.flags & V.VM_READ)) return new Errno('EINVAL', 'madvise');
      const r = faultinPage(this, v, a, write);
      if (r === 'SIGSEGV' || r === 'SIGBUS') return new Errno('EFAULT', 'madvise');
    }
    return 0;
  }

  // --- user memory access -----------------------------------------------------

  /**
   * A load or store by the process: the hardware walk, and on a fault the
   * kernel's do_page_fault() and a retry. Returns the pfn reached or the signal.
   */
  userAccess(addr: bigint, acc: Access): { pfn: bigint } | { signal: 'SIGSEGV' | 'SIGBUS' } {
    for (let attempt = 0; attempt < 8; attempt++) {
      const r = hwAccess(this.pt.mem, this.pt.root, addr, acc, this.sys.cfg.hw);
      if (r.ok) return { pfn: r.pa >> 12n };
      const fault = this.doPageFault(addr, acc);
      if (fault !== 0) return { signal: fault === 'SIGBUS' ? 'SIGBUS' : 'SIGSEGV' };
    }
    throw new Error(`model bug: access to 0x${addr.toString(16)} keeps faulting`);
  }

  // arch/arm64/mm/fault.c do_page_fault(): the area must allow the access
  private doPageFault(addr: bigint, acc: Access): VmFault {
    const vma = this.vmas.lookup(addr);
    if (!vma) return 'SIGSEGV';
    let need: number;
    if (acc === 'exec') need = V.VM_EXEC;
    else if (acc === 'write') need = V.VM_WRITE;
    else need = V.VM_READ | V.VM_WRITE | (this.sys.cfg.epan ? 0 : V.VM_EXEC);
    if (!(vma.flags & need)) return 'SIGSEGV';
    return handleMmFault(this, vma, addr, acc === 'write' ? FAULT_FLAG_WRITE : 0);
  }

  readUser(addr: bigint, len: number): Uint8Array | { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint } {
    const out = new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const a = addr + BigInt(done);
      const r = this.userAccess(a, 'read');
      if ('signal' in r) return { signal: r.signal, addr: a };
      const off = Number(a & (PAGE - 1n));
      const n = Math.min(len - done, PAGE_SIZE - off);
      out.set(this.sys.phys.read(r.pfn, off, n), done);
      done += n;
    }
    return out;
  }

  writeUser(addr: bigint, data: Uint8Array): null | { signal: 'SIGSEGV' | 'SIGBUS'; addr: bigint } {
    for (let done = 0; done < data.length; ) {
      const a = addr + BigInt(done);
      const r = this.userAccess(a, 'write');
      if ('signal' in r) return { signal: r.signal, addr: a };
      const off = Number(a & (PAGE - 1n));
      const n = Math.min(data.length - done, PAGE_SIZE - off);
      this.sys.phys.write(r.pfn, off, data.subarray(done, done + n));
      const f = this.sys.phys.folioOf(r.pfn);
      if (f) f.dirty = true;
      done += n;
    }
    return null;
  }

  /** The leaf entry mapping addr and its level, for /proc readers. */
  leaf(addr: bigint): { level: 2 | 3; val: bigint } {
    const pmd = this.pt.pmdVal(addr);
    if (pmd !== 0n && !this.pt.pmdIsTable(pmd)) return { level: 2, val: pmd };
    return { level: 3, val: this.pt.pteVal(addr) };
  }

  exit(): void {
    for (const v of [...this.vmas.all()]) this.doMunmap(v.start, v.end - v.start);
  }
}

