// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (fs/proc/task_mmu.c
// do_pagemap_scan()): page categories, matched and merged into regions
// through the kernel's bounce buffer, and with PM_SCAN_WP_MATCHING the
// matching written pages write-protected for uffd-wp (async mode) in the
// same walk. Written callback by callback as the kernel's walk runs them
// (test_walk, pmd_entry with its THP and pte paths, pte_hole,
// hugetlb_entry), since where the walk stops, what it splits and what it
// protects all follow from that order.

import * as U from '../../uapi/linux.ts';
import { Errno, type Ret } from '../../uapi/linux.ts';
import { type AttrChange, AttrQuestion, attrsOf, wordAt } from '../arm64/pte-words.ts';
import { CONT_PTES } from '../arm64/contpte.ts';
import type { Pgtable, Pte } from '../arm64/pgtable.ts';
import { isGuardMarkerEntry, PTE_MARKER_UFFD_WP } from '../arm64/swapops.ts';
import { splitHugePmd } from '../mm/huge-memory.ts';
import { keptFor } from '../mm/internal.ts';
import type { Mm } from '../mm/mm.ts';
import { PMD_MASK, PMD_SIZE } from '../mm/pgtables.ts';
import { uffdWpRange } from '../mm/userfaultfd.ts';
import { VM_HUGETLB, VM_PFNMAP, VM_SOFTDIRTY, VM_UFFD_WP, type Vma } from '../mm/vma.ts';

const PAGE = 4096n;
const TASK_SIZE = 1n << 48n;
const ULONG_MAX = (1n << 64n) - 1n;
/** a contiguous block's bytes of pte slots */
const CONT_BYTES = CONT_PTES * 8;
/** PAGEMAP_WALK_SIZE >> PAGE_SHIFT: the bounce buffer's regions at most */
const BOUNCE_REGIONS = Number(PMD_SIZE / PAGE);

export interface ScanArg {
  start: bigint;
  end: bigint;
  flags: number;
  maxPages: bigint;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
  vecLen: number;
  /** the vec pointer fails access_ok() (~0UL) */
  badVec: boolean;
  /** the vec pointer is NULL */
  nullVec: boolean;
}

export interface ScanRegion {
  start: bigint;
  end: bigint;
  categories: number;
}

export interface ScanResult {
  ret: number;
  regions: ScanRegion[];
  walkEnd: bigint;
}

/** A callback's outcome: 0 goes on, ENOSPC stops the walk early (buffer full or max_pages), an Errno fails the ioctl. */
type WalkRet = 0 | 'ENOSPC' | Errno;

/** PM_SCAN_CATEGORIES of the kernel modelled */
function scanCategories(mm: Mm): number {
  const base = U.PAGE_IS_WPALLOWED | U.PAGE_IS_WRITTEN | U.PAGE_IS_FILE | U.PAGE_IS_PRESENT | U.PAGE_IS_SWAPPED | U.PAGE_IS_PFNZERO | U.PAGE_IS_HUGE | U.PAGE_IS_SOFT_DIRTY;
  return mm.sys.cfg.kernel.pagemapScanGuard ? base | U.PAGE_IS_GUARD : base;
}

/** A u64 field as the caller's number sets it: negative numbers sign-extended, as C's int -1 is. */
const u64 = (n: number): bigint => BigInt.asUintN(64, BigInt(n));

// pagemap_scan_get_args(): checked in the kernel's order, so the first failing check names the errno
function checkArgs(mm: Mm, a: ScanArg): Errno | null {
  if (u64(a.flags) & ~BigInt(U.PM_SCAN_WP_MATCHING | U.PM_SCAN_CHECK_WPASYNC)) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if ((u64(a.categoryInverted) | u64(a.categoryMask) | u64(a.categoryAnyofMask) | u64(a.returnMask)) & ~BigInt(scanCategories(mm))) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if (a.start & (PAGE - 1n)) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if (a.end < a.start || a.end > TASK_SIZE) return new Errno('EFAULT', 'PAGEMAP_SCAN');
  if (a.nullVec && a.vecLen) return new Errno('EINVAL', 'PAGEMAP_SCAN');
  if (a.badVec) return new Errno('EFAULT', 'PAGEMAP_SCAN');
  return null;
}

/** struct pagemap_scan_private and the walk's callbacks over it. */
/** What PAGEMAP_SCAN's fast paths ask of a pte table's words, and the change they make (arm64/pte-words.ts). */
/**
 * pagemap_scan_pmd_entry()'s gate to its fast path for exclusive WP:
 * PM_SCAN_WP_MATCHING, and no output vector (H2's fix added the flag).
 * Called through sys.fn.
 */
export function pagemapScanFastWp(wpMatching: boolean, vecOut: boolean): boolean {
  return wpMatching && !vecOut;
}

/**
 * The fast paths' test of pagemap_scan_pmd_entry() that a pte is protected
 * already: a present pte's uffd-wp, or a swap entry's or marker's (H3's fix
 * split it so). Called through sys.fn.
 */
export function pagemapScanPteWp(pg: Pgtable, pte: Pte): boolean {
  return (pg.ptePresent(pte) && pg.pteUffdWp(pte)) || pg.pteSwpUffdWpAny(pte);
}

interface ScanWords {
  /** asked of any entry: presence is in the attributes, and ptep_get() of a contiguous one adds only young and dirty */
  readonly presentUffdWp: AttrQuestion;
  readonly present: AttrQuestion;
  readonly mkuffdWp: AttrChange;
  /** the uffd-wp marker's words, and the fast paths' answer for it */
  readonly markerLo: number;
  readonly markerHi: number;
  readonly markerWp: boolean;
}

function makeScanWords(mm: Mm): ScanWords {
  const pg = mm.pg;
  const marker = pg.makePteMarker(PTE_MARKER_UFFD_WP);
  const isWp = mm.sys.fn.pagemapScanPteWp;
  return {
    presentUffdWp: new AttrQuestion((p) => pg.ptePresent(p) && isWp(pg, p)),
    present: new AttrQuestion((p) => pg.ptePresent(p)),
    mkuffdWp: mm.arch.protChange((p) => pg.pteMkuffdWp(p)),
    markerLo: Number(marker & 0xffff_ffffn),
    markerHi: Number(marker >> 32n),
    markerWp: isWp(pg, marker),
  };
}

class PagemapScan {
  private readonly pg;
  private readonly wp: boolean;
  private readonly maxPages: bigint;
  private curVmaCategory = 0;
  /** the bounce buffer: null without an output vector */
  private readonly vecBuf: ScanRegion[] | null;
  private vecBufLen: number;
  private vecBufIndex = 0;
  private vecLen: number;
  private foundPages = 0n;
  walkEnd = 0n;
  /** what reached the user's vector */
  readonly out: ScanRegion[] = [];
  // what the fast paths ask of a pte table's words, and the change they make (arm64/pte-words.ts)
  private readonly words: ScanWords;

  constructor(
    private readonly mm: Mm,
    private readonly a: ScanArg,
  ) {
    this.pg = mm.pg;
    this.words = keptFor(mm, makeScanWords);
    this.wp = (a.flags & U.PM_SCAN_WP_MATCHING) !== 0;
    this.maxPages = a.maxPages === 0n ? ULONG_MAX : a.maxPages;
    this.vecLen = a.vecLen;
    // pagemap_scan_init_bounce_buffer()
    this.vecBufLen = Math.min(BOUNCE_REGIONS, a.vecLen);
    this.vecBuf = a.vecLen ? [{ start: 0n, end: 0n, categories: 0 }] : null;
  }

  // do_pagemap_scan(): walk until done, refilling the bounce buffer each time it fills
  run(end: bigint): Ret<number> {
    let nRangesOut = 0;
    let ret: WalkRet = 0;
    for (let walkStart = this.a.start; walkStart < end; walkStart = this.walkEnd) {
      ret = this.walk(walkStart, end);
      nRangesOut += this.flushBuffer();
      if (ret !== 'ENOSPC') break;
      if (this.vecLen === 0 || this.foundPages === this.maxPages) break;
    }
    if (ret instanceof Errno) return ret;
    if (!this.walkEnd) this.walkEnd = end;
    return nRangesOut;
  }

  // walk_page_range() with pagemap_scan_ops: areas in order, each by pmd (or huge page), holes included
  private walk(start: bigint, end: bigint): WalkRet {
    for (const vma of this.mm.vmas.overlapping(start, end)) {
      const test = this.testWalk(vma);
      if (test instanceof Errno) return test;
      if (test === 'skip') continue;
      const lo = vma.start > start ? vma.start : start;
      const hi = vma.end < end ? vma.end : end;
      for (let addr = lo; addr < hi; ) {
        const next = (addr & PMD_MASK) + PMD_SIZE < hi ? (addr & PMD_MASK) + PMD_SIZE : hi;
        let ret: WalkRet;
        // walk_hugetlb_range(): an entry wherever its table exists, a hole elsewhere
        if (vma.flags & VM_HUGETLB) ret = this.mm.pt.pmdSlot(addr, false) === null ? this.pteHole(vma, addr, next) : this.hugetlbEntry(vma, addr, next);
        else ret = this.mm.pt.pmdVal(addr) === 0n ? this.pteHole(vma, addr, next) : this.pmdEntry(addr, next);
        if (ret !== 0) return ret;
        addr = next;
      }
    }
    return 0;
  }

  // pagemap_scan_test_walk()
  private testWalk(vma: Vma): 'walk' | 'skip' | Errno {
    const wpAllowed = this.mm.uffdWpAsync(vma) && this.mm.uffdWpUseMarkers(vma);
    if (!wpAllowed) {
      if (this.a.flags & U.PM_SCAN_CHECK_WPASYNC) return new Errno('EPERM', 'PAGEMAP_SCAN');
      if (this.wp) return 'skip';
    }
    if (vma.flags & VM_PFNMAP) return 'skip';
    let vmaCategory = 0;
    if (wpAllowed) vmaCategory |= U.PAGE_IS_WPALLOWED;
    if (vma.flags & VM_SOFTDIRTY) vmaCategory |= U.PAGE_IS_SOFT_DIRTY;
    // pagemap_scan_is_interesting_vma()
    const required = this.a.categoryMask & U.PAGE_IS_WPALLOWED;
    if (((vmaCategory ^ this.a.categoryInverted) & required) !== required) return 'skip';
    this.curVmaCategory = vmaCategory;
    return 'walk';
  }

  // pagemap_scan_is_interesting_page()
  private interesting(categories: number): boolean {
    const c = categories ^ this.a.categoryInverted;
    if ((c & this.a.categoryMask) !== this.a.categoryMask) return false;
    return !(this.a.categoryAnyofMask && !(c & this.a.categoryAnyofMask));
  }

  // pagemap_scan_push_range(): false when the bounce buffer is full
  private pushRange(categories: number, addr: bigint, end: bigint): boolean {
    const buf = this.vecBuf!;
    let cur = buf[this.vecBufIndex]!;
    if (addr === cur.end && categories === cur.categories) {
      cur.end = end;
      return true;
    }
    if (cur.end) {
      if (this.vecBufIndex >= this.vecBufLen - 1) return false;
      cur = buf[++this.vecBufIndex] = { start: 0n, end: 0n, categories: 0 };
    }
    cur.start = addr;
    cur.end = end;
    cur.categories = categories;
    return true;
  }

  // pagemap_scan_output(): [addr, end) into the buffer, cut at max_pages; the end it got to
  private output(categories: number, addr: bigint, end: bigint): { ret: WalkRet; end: bigint } {
    if (!this.vecBuf) return { ret: 0, end };
    categories &= this.a.returnMask;
    let nPages = (end - addr) / PAGE;
    let ret: WalkRet = 0;
    const total = this.foundPages + nPages;
    if (total > this.maxPages) {
      const tooMuch = total - this.maxPages;
      end -= tooMuch * PAGE;
      nPages -= tooMuch;
      ret = 'ENOSPC';
    }
    if (!this.pushRange(categories, addr, end)) {
      end = addr;
      nPages = 0n;
      ret = 'ENOSPC';
    }
    this.foundPages += nPages;
    if (ret) this.walkEnd = end;
    return { ret, end };
  }

  // pagemap_scan_backout_range(): take back a huge page's output before splitting it
  private backoutRange(addr: bigint, end: bigint): void {
    if (!this.vecBuf) return;
    const cur = this.vecBuf[this.vecBufIndex]!;
    if (cur.start !== addr) cur.end = addr;
    else cur.start = cur.end = 0n;
    this.foundPages -= (end - addr) / PAGE;
  }

  // pagemap_scan_flush_buffer(): the buffer's regions to the user's vector
  private flushBuffer(): number {
    const buf = this.vecBuf;
    if (!buf) return 0;
    let n = this.vecBufIndex;
    if (buf[n]!.end !== buf[n]!.start) n++;
    if (!n) return 0;
    this.out.push(...buf.slice(0, n).map((r) => ({ ...r })));
    this.vecLen -= n;
    this.vecBufIndex = 0;
    this.vecBufLen = Math.min(this.vecBufLen, this.vecLen);
    buf.length = 1;
    buf[0] = { start: 0n, end: 0n, categories: 0 };
    return n;
  }

  // pagemap_scan_pmd_entry()
  private pmdEntry(start: bigint, end: bigint): WalkRet {
    const thp = this.thpEntry(start, end);
    if (thp !== 'ENOENT') return thp;
    const pt = this.mm.pt;
    let ret: WalkRet = 0;
    // the range lies under one pte table: its slots follow the addresses (a pte_t * stepping by 8)
    const first = pt.pteSlot(start, false)!;
    const nr = Number((end - start) / PAGE);
    const addrOf = (i: number) => start + BigInt(i) * PAGE;
    const w = pt.mem.pteTableWords(first);
    const base = wordAt(first);
    if (this.mm.sys.fn.pagemapScanFastWp(this.wp, this.vecBuf !== null)) {
      // fast path for performing exclusive WP: every pte not yet protected
      for (let i = 0, slot = first, at = base; i < nr; i++, slot += 8, at += 2) if (!this.protectedAt(w, at, slot)) this.protectWritten(w, at, slot);
      return 0;
    }
    const a = this.a;
    if (!a.categoryAnyofMask && !a.categoryInverted && a.categoryMask === U.PAGE_IS_WRITTEN && a.returnMask === U.PAGE_IS_WRITTEN) {
      // only PAGE_IS_WRITTEN asked for and returned: no page's other categories are worked out
      for (let i = 0; i < nr; ) {
        const j = this.runEnd(w, base, first, i, nr, false);
        if (j === i) {
          i = this.runEnd(w, base, first, i, nr, true);
          continue;
        }
        // The kernel outputs each written page in turn, then write-protects it. Output of the whole run at
        // once merges, cuts at max_pages and fails on a full buffer at the same page, and protecting a page
        // changes no neighbour's uffd-wp (an unfold or fold of its block rewrites only young, dirty and CONT).
        const addr = addrOf(i);
        const out = this.output(this.curVmaCategory | U.PAGE_IS_WRITTEN, addr, addrOf(j));
        ret = out.ret;
        const reported = Number((out.end - addr) / PAGE);
        if (this.wp) this.protectRun(w, base + 2 * i, first + 8 * i, reported);
        if (reported < j - i) break;
        i = j;
      }
      return ret;
    }
    for (let i = 0, slot = first; i < nr; i++, slot += 8) {
      const pte = this.mm.arch.ptepGet(slot);
      const categories = this.curVmaCategory | this.pageCategory(pte);
      if (!this.interesting(categories)) continue;
      const addr = addrOf(i);
      const out = this.output(categories, addr, addr + PAGE);
      ret = out.ret;
      if (out.end === addr) break;
      if (!this.wp || !(categories & U.PAGE_IS_WRITTEN)) continue;
      this.makeUffdWpPte(slot, pte);
    }
    return ret;
  }

  // pagemap_scan_thp_entry(): ENOENT when the pmd maps no huge page (or no longer does)
  private thpEntry(start: bigint, end: bigint): WalkRet | 'ENOENT' {
    const { level, val: pmd } = this.mm.leaf(start);
    if (level !== 2) return 'ENOENT';
    const categories = this.curVmaCategory | this.thpCategory(pmd);
    if (!this.interesting(categories)) return 0;
    const out = this.output(categories, start, end);
    if (out.end === start) return out.ret;
    if (!this.wp || !(categories & U.PAGE_IS_WRITTEN)) return out.ret;
    // a write-protect of part of the huge page breaks it into small pages
    if (out.end !== start + PMD_SIZE) {
      splitHugePmd(this.mm, start & PMD_MASK);
      this.backoutRange(start, out.end);
      return 'ENOENT';
    }
    this.makeUffdWpPmd(start);
    return out.ret;
  }

  // pagemap_scan_pte_hole(): no page table under [addr, end)
  private pteHole(vma: Vma, addr: bigint, end: bigint): WalkRet {
    // an unpopulated range of a uffd-wp area has no marker, so it counts as written
    let categories = this.curVmaCategory;
    if (vma.flags & VM_UFFD_WP && !(vma.flags & VM_HUGETLB)) categories |= U.PAGE_IS_WRITTEN;
    if (!this.interesting(categories)) return 0;
    const out = this.output(categories, addr, end);
    if (out.end === addr || !this.wp) return out.ret;
    if (vma.flags & VM_HUGETLB) {
      // pagemap_scan_hugetlb_hole_wp(): a marker in each huge page, the table allocated for it
      for (let a = addr & PMD_MASK; a < out.end; a += PMD_SIZE) this.makeUffdWpHugePte(this.mm.pt.pmdSlot(a, true)!);
    } else uffdWpRange(this.mm, vma, addr, out.end, true);
    return out.ret;
  }

  // pagemap_scan_hugetlb_entry()
  private hugetlbEntry(vma: Vma, start: bigint, end: bigint): WalkRet {
    const slot = this.mm.pt.pmdSlot(start, false)!;
    const categories = this.curVmaCategory | this.hugetlbCategory(vma, this.mm.pt.read(slot));
    if (!this.interesting(categories)) return 0;
    const out = this.output(categories, start, end);
    if (!this.wp || out.end === start || !(categories & U.PAGE_IS_WRITTEN)) return out.ret;
    // part of a huge page cannot be write-protected: taken back, and the walk said to end here (and goes on)
    if (out.end !== start + PMD_SIZE) {
      this.backoutRange(start, out.end);
      this.walkEnd = start;
      return 0;
    }
    this.makeUffdWpHugePte(slot);
    return out.ret;
  }

  // pagemap_page_category()
  private pageCategory(pte: Pte): number {
    const pg = this.pg;
    if (pg.pteNone(pte)) return U.PAGE_IS_WRITTEN;
    if (pg.ptePresent(pte)) {
      let c = U.PAGE_IS_PRESENT;
      if (!pg.pteUffdWp(pte)) c |= U.PAGE_IS_WRITTEN;
      const f = this.mm.vmNormalFolio(pte);
      if (f && !f.anon) c |= U.PAGE_IS_FILE;
      if (this.mm.sys.phys.isZeroPfn(pg.ptePfn(pte))) c |= U.PAGE_IS_PFNZERO;
      if (pg.pteSoftDirty(pte)) c |= U.PAGE_IS_SOFT_DIRTY;
      return c;
    }
    let c = U.PAGE_IS_SWAPPED;
    if (!pg.pteSwpUffdWpAny(pte)) c |= U.PAGE_IS_WRITTEN;
    if (isGuardMarkerEntry(pg.pteToSwpEntry(pte))) c |= U.PAGE_IS_GUARD;
    if (pg.pteSwpSoftDirty(pte)) c |= U.PAGE_IS_SOFT_DIRTY;
    return c;
  }

  // pagemap_thp_category(): the model's huge pmds are present (no pmd migration entries at rest)
  private thpCategory(pmd: Pte): number {
    const pg = this.pg;
    let c = U.PAGE_IS_HUGE;
    if (!pg.pmdPresent(pmd)) return c;
    c |= U.PAGE_IS_PRESENT;
    if (!pg.pteUffdWp(pmd)) c |= U.PAGE_IS_WRITTEN;
    // vm_normal_page_pmd() has no page for the huge zero pmd
    const pfn = pg.pmdPfn(pmd);
    const zero = this.mm.sys.phys.isZeroPfn(pfn);
    if (!zero && !this.mm.sys.phys.folioOf(pfn)?.anon) c |= U.PAGE_IS_FILE;
    if (zero) c |= U.PAGE_IS_PFNZERO;
    if (pg.pteSoftDirty(pmd)) c |= U.PAGE_IS_SOFT_DIRTY;
    return c;
  }

  // pagemap_hugetlb_category(): a uffd-wp marker is swapped, and not written
  private hugetlbCategory(vma: Vma, pte: Pte): number {
    const pg = this.pg;
    let c = U.PAGE_IS_HUGE;
    if (pte === 0n) return c;
    if (!pg.pmdPresent(pte)) {
      if (!pg.isPteMarker(pte)) throw new Error(`PAGEMAP_SCAN: a non-present hugetlb entry in ${vma.start.toString(16)} is not modelled`);
      // written unless it carries uffd-wp (a poison marker is: measured on 7.2 x86_64, HUGE|SWAPPED|WRITTEN)
      return c | U.PAGE_IS_SWAPPED | (pg.pteSwpUffdWpAny(pte) ? 0 : U.PAGE_IS_WRITTEN);
    }
    c |= U.PAGE_IS_PRESENT;
    if (!pg.pteUffdWp(pte)) c |= U.PAGE_IS_WRITTEN;
    if (!this.mm.sys.phys.folioOf(pg.pmdPfn(pte))?.anon) c |= U.PAGE_IS_FILE;
    if (pg.pteSoftDirty(pte)) c |= U.PAGE_IS_SOFT_DIRTY;
    return c;
  }

  // make_uffd_wp_pte() of nr written entries in turn: a whole contiguous block at once, where one is whole in the run
  private protectRun(w: Uint32Array, at: number, slot: number, nr: number): void {
    const arch = this.mm.arch;
    for (let k = 0; k < nr; ) {
      if (slot % CONT_BYTES === 0 && nr - k >= CONT_PTES && arch.modifyProtBlockWords(w, at, slot, this.words.mkuffdWp)) {
        k += CONT_PTES;
        at += 2 * CONT_PTES;
        slot += CONT_BYTES;
        continue;
      }
      this.protectWritten(w, at, slot);
      k++;
      at += 2;
      slot += 8;
    }
  }

  // make_uffd_wp_pte() of a written entry: on the table's words where it is a plain present one
  private protectWritten(w: Uint32Array, at: number, slot: number): void {
    const lo = w[at]!;
    const hi = w[at + 1]!;
    if (this.mm.arch.plain.of(lo, hi) && this.mm.arch.modifyProtWords(w, at, slot, this.words.mkuffdWp)) return;
    // a none entry gets the marker, as set_pte_at() writes it (no block to unfold or fold)
    if (lo === 0 && hi === 0) {
      w[at] = this.words.markerLo;
      w[at + 1] = this.words.markerHi;
    } else this.makeUffdWpPte(slot, this.mm.arch.ptepGet(slot));
  }

  /**
   * The end of the run of entries from index i (of nr, from word base and
   * slot first) that protectedAt() answers alike, `prot`: a present entry
   * with the attributes of the present one before it answers as it did.
   */
  private runEnd(w: Uint32Array, base: number, first: number, i: number, nr: number, prot: boolean): number {
    let known = -1; // the attributes of the last present entry asked about
    for (let at = base + 2 * i; i < nr; i++, at += 2) {
      const attrs = attrsOf(w[at]!, w[at + 1]!);
      if (attrs === known) continue;
      if (this.protectedAt(w, at, first + 8 * i) !== prot) break;
      known = this.words.present.of(w[at]!, w[at + 1]!) ? attrs : -1;
    }
    return i;
  }

  /**
   * The fast paths' test, on the table's words where they tell: a present
   * entry by its attributes, and the uffd-wp marker by its value; ptep_get()
   * and the helpers for any other.
   */
  private protectedAt(w: Uint32Array, at: number, slot: number): boolean {
    const lo = w[at]!;
    const hi = w[at + 1]!;
    if (lo === this.words.markerLo && hi === this.words.markerHi) return this.words.markerWp;
    if (this.words.presentUffdWp.of(lo, hi)) return true;
    // a present entry's uffd-wp is its own, contiguous or not
    if (this.words.present.of(lo, hi) || (lo === 0 && hi === 0)) return false;
    return this.mm.sys.fn.pagemapScanPteWp(this.pg, this.mm.arch.ptepGet(slot));
  }

  // make_uffd_wp_pte()
  private makeUffdWpPte(slot: number, pte: Pte): void {
    const pg = this.pg;
    const arch = this.mm.arch;
    if (pg.ptePresent(pte)) arch.modifyProtCommitPtes(slot, pg.pteMkuffdWp(arch.modifyProtStartPtes(slot, 1)), 1);
    else if (pg.pteNone(pte)) arch.setPteAt(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
    else arch.setPteAt(slot, pg.pteSwpMkuffdWp(pte));
  }

  // make_uffd_wp_huge_pte(): a marker in a none entry; markers stay; a present page gets uffd-wp
  private makeUffdWpHugePte(slot: number): void {
    const pg = this.pg;
    const pte = this.mm.pt.read(slot);
    if (pte === 0n) this.mm.pt.write(slot, pg.makePteMarker(PTE_MARKER_UFFD_WP));
    else if (pg.pmdPresent(pte)) this.mm.pt.write(slot, pg.pteMkuffdWp(pte));
  }

  // make_uffd_wp_pmd(): pmdp_invalidate_ad(), then the old value with uffd-wp set
  private makeUffdWpPmd(addr: bigint): void {
    const pg = this.pg;
    const slot = this.mm.pt.pmdSlot(addr, false)!;
    const old = this.mm.pt.read(slot);
    if (!pg.pmdPresent(old)) return;
    this.mm.pt.write(slot, pg.pmdMkinvalid(old));
    this.mm.pt.write(slot, pg.pteMkuffdWp(old));
  }
}

export function pagemapScan(mm: Mm, a: ScanArg): Ret<ScanResult> {
  const err = checkArgs(mm, a);
  if (err) return err;
  const scan = new PagemapScan(mm, a);
  const ret = scan.run((a.end + PAGE - 1n) & ~(PAGE - 1n));
  if (ret instanceof Errno) return ret;
  return { ret, regions: scan.out, walkEnd: scan.walkEnd };
}
