// Physical memory: folios (pages and 2 MiB huge pages) with their content,
// how often each page is mapped, and whether an anonymous page is known to
// be exclusive to one process (PageAnonExclusive). What the kernel keeps in
// struct page lives here as it does there, in pfn-indexed sections of the
// vmemmap (SPARSEMEM), and a Folio is a handle on its head page: a page
// allocated is slots in typed arrays, never an object that outlives the
// call (V8 copies every object that survives its young generation, and one
// per page cost more than the kernel's whole fault). Memory grows with the
// pages allocated, and page content only with the bytes written
// (page-bytes.ts).

import { PAGE_SHIFT } from '../arm64/hwdef.ts';
import { PageBytes } from './page-bytes.ts';
import { SECTION, Sections } from './pfn-map.ts';

export const PAGE_SIZE = 1 << Number(PAGE_SHIFT);
export const HPAGE_PMD_ORDER = 9;
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

/** Where a file-backed folio sits: its inode's page cache, at a page index. */
export interface Mapping {
  readonly id: number;
  /** shmem/tmpfs/memfd: pages live only in the page cache */
  readonly shmem: boolean;
}

// a folio's flags, in its head page's slot (page-flags.h)
const PG_ANON = 1;
const PG_DIRTY = 2;
const PG_REFERENCED = 4;
const PG_SWAPBACKED = 8;
const PG_HUGETLB = 16;

/**
 * What struct page holds for each page frame of a section: the page's own
 * mapcount, PageAnonExclusive and its folio's order, and in a head page's
 * slot what its folio has (flags, entire mapcount, mapping and index).
 */
export interface PageSection {
  readonly mapcount: Int32Array;
  readonly exclusive: Uint8Array;
  /** the order of the folio holding the page, + 1 (0: no folio), as the folio's pages tell it (folio_nr_pages()) */
  readonly order: Uint8Array;
  /** head pages: PG_* */
  readonly flags: Uint8Array;
  /** head pages: mapped by a pmd, as a whole (_entire_mapcount) */
  readonly pmdMapped: Int32Array;
  /** head pages: how many of the folio's pages any pte maps (folio_mapped() asks per zap batch) */
  readonly mappedPages: Int32Array;
  /** head pages of file folios: the page cache and index they sit at; made for the first one */
  mapping: (Mapping | null)[] | null;
  index: Float64Array | null;
  /** pages allocated in the section and not freed */
  used: number;
}

/** A section's slots, in one buffer: one allocation, not one per array. */
function newSection(): PageSection {
  const buf = new ArrayBuffer(SECTION * 15);
  return {
    mapcount: new Int32Array(buf, 0, SECTION),
    pmdMapped: new Int32Array(buf, SECTION * 4, SECTION),
    mappedPages: new Int32Array(buf, SECTION * 8, SECTION),
    exclusive: new Uint8Array(buf, SECTION * 12, SECTION),
    order: new Uint8Array(buf, SECTION * 13, SECTION),
    flags: new Uint8Array(buf, SECTION * 14, SECTION),
    mapping: null,
    index: null,
    used: 0,
  };
}

/**
 * A folio: a handle on its head page's slots. Two handles on one folio are
 * the same folio (same()), as two pointers to one struct folio are; a
 * handle kept past folio_put() reads what the folio had when freed.
 */
export class Folio {
  /** the folio's first page's slot in its section (a folio never crosses one: both are aligned, a section the larger) */
  private readonly at: number;
  constructor(
    /** the head page's frame number */
    readonly pfnNr: number,
    readonly order: number,
    /** the section holding its pages */
    readonly pages: PageSection,
  ) {
    this.at = pfnNr % SECTION;
  }
  /** folio_pfn() */
  get pfn(): bigint {
    return BigInt(this.pfnNr);
  }
  /** the same folio as other (folio pointers compared) */
  same(other: Folio | null | undefined): boolean {
    return other !== null && other !== undefined && other.pfnNr === this.pfnNr;
  }
  get nrPages(): number {
    return 1 << this.order;
  }
  get anon(): boolean {
    return (this.pages.flags[this.at]! & PG_ANON) !== 0;
  }
  get mapping(): Mapping | null {
    return this.pages.mapping?.[this.at] ?? null;
  }
  get index(): bigint {
    return this.pages.index === null ? 0n : BigInt(this.pages.index[this.at]!);
  }
  get pmdMapped(): number {
    return this.pages.pmdMapped[this.at]!;
  }
  set pmdMapped(n: number) {
    this.pages.pmdMapped[this.at] = n;
  }
  get dirty(): boolean {
    return this.flag(PG_DIRTY);
  }
  set dirty(on: boolean) {
    this.setFlag(PG_DIRTY, on);
  }
  /** PG_referenced: accessed other than through a pte's access flag (smaps Referenced counts it) */
  get referenced(): boolean {
    return this.flag(PG_REFERENCED);
  }
  set referenced(on: boolean) {
    this.setFlag(PG_REFERENCED, on);
  }
  /** PG_swapbacked: cleared when MADV_FREE makes an anonymous folio lazyfree */
  get swapbacked(): boolean {
    return this.flag(PG_SWAPBACKED);
  }
  set swapbacked(on: boolean) {
    this.setFlag(PG_SWAPBACKED, on);
  }
  /** from the hugetlb pool: freeing it returns it there */
  get hugetlb(): boolean {
    return this.flag(PG_HUGETLB);
  }
  set hugetlb(on: boolean) {
    this.setFlag(PG_HUGETLB, on);
  }
  private flag(bit: number): boolean {
    return (this.pages.flags[this.at]! & bit) !== 0;
  }
  private setFlag(bit: number, on: boolean): void {
    const flags = this.pages.flags;
    flags[this.at] = on ? flags[this.at]! | bit : flags[this.at]! & ~bit;
  }
  /** the page's index within this folio */
  pageIndex(pfn: bigint): number {
    return Number(pfn) - this.pfnNr;
  }
  /** how many ptes map page i of the folio */
  mapcountOf(i: number): number {
    return this.pages.mapcount[this.at + i]!;
  }
  /** adds delta to the pte mapcount of pages [i, i + nr) */
  addMapcount(i: number, delta: number, nr = 1): void {
    const counts = this.pages.mapcount;
    let mapped = 0;
    for (let k = this.at + i, end = k + nr; k < end; k++) {
      const before = counts[k]!;
      const after = before + delta;
      counts[k] = after;
      if (before <= 0 && after > 0) mapped++;
      else if (before > 0 && after <= 0) mapped--;
    }
    this.pages.mappedPages[this.at] = this.pages.mappedPages[this.at]! + mapped;
  }
  setMapcount(i: number, count: number): void {
    this.addMapcount(i, count - this.mapcountOf(i));
  }
  /** no pte maps any page any more */
  clearMapcounts(): void {
    for (let k = this.at, end = k + this.nrPages; k < end; k++) this.pages.mapcount[k] = 0;
    this.pages.mappedPages[this.at] = 0;
  }
  /** folio_mapped(): is any page mapped anywhere */
  mapped(): boolean {
    return this.pages.pmdMapped[this.at]! > 0 || this.pages.mappedPages[this.at]! > 0;
  }
  /** how many times a page is mapped, by ptes or through the folio's pmd */
  pageMapcount(pfn: bigint): number {
    return this.mapcountOf(this.pageIndex(pfn)) + this.pmdMapped;
  }
  /** PageAnonExclusive() of page i */
  exclusive(i: number): boolean {
    return this.pages.exclusive[this.at + i] === 1;
  }
  /** SetPageAnonExclusive() or ClearPageAnonExclusive() of pages [i, i + nr) */
  setExclusive(i: number, exclusive: boolean, nr = 1): void {
    for (let k = this.at + i, end = k + nr; k < end; k++) this.pages.exclusive[k] = exclusive ? 1 : 0;
  }
}

/** PFNs of user pages start above the page-table pool (arm64/tables.ts). */
const USER_PFN_BASE = 0x8_0000;
/** node N's frames start at N * NODE_PFNS (node 0's above the pool): 32 TiB a node, four within a 48-bit output address */
const NODE_PFNS = 2 ** 33;

/** Records where a file folio sits in its section's head slot. */
function setCacheSlot(s: PageSection, at: number, mapping: Mapping | null, index: bigint): void {
  (s.mapping ??= new Array<Mapping | null>(SECTION).fill(null))[at] = mapping;
  (s.index ??= new Float64Array(SECTION))[at] = Number(index);
}

export class PhysMem {
  // numbers: bigint arithmetic allocates on every folio allocated; node N's next free frame at [N]
  private readonly next: number[] = [USER_PFN_BASE];
  private readonly bytes = new PageBytes();
  private readonly pages = new Sections<PageSection>();
  /** the shared zero page, mapped read-only for reads of untouched anonymous memory */
  readonly zeroPfn: bigint;
  /** the huge zero folio (2 MiB of zeroes) */
  readonly hugeZeroPfn: bigint;

  constructor() {
    this.zeroPfn = BigInt(this.bump(0));
    this.hugeZeroPfn = BigInt(this.bump(HPAGE_PMD_ORDER));
  }

  /** the next free frames of a node, aligned to their size as the buddy allocator hands them out */
  private bump(order: number, nid = 0): number {
    const align = 2 ** order;
    const pfn = Math.ceil((this.next[nid] ?? nid * NODE_PFNS) / align) * align;
    this.next[nid] = pfn + align;
    return pfn;
  }

  /** folio_alloc() (on node nid, __GFP_THISNODE): a new zero-filled folio, its pages mapped nowhere and not exclusive */
  alloc(order: number, anon: boolean, mapping: Mapping | null = null, index = 0n, nid = 0): Folio {
    const pfn = this.bump(order, nid);
    // pfns are never handed out twice, so a new folio's slots hold zeroes
    const pages = this.pages.getOrCreate(Math.floor(pfn / SECTION), newSection);
    const at = pfn % SECTION;
    const nr = 1 << order;
    pages.used += nr;
    // by hand: a TypedArray fill() is a call into the runtime, which every order-0 folio would pay
    for (let k = at, end = at + nr; k < end; k++) pages.order[k] = order + 1;
    pages.flags[at] = (anon ? PG_ANON : 0) | PG_SWAPBACKED;
    if (mapping !== null || index !== 0n) setCacheSlot(pages, at, mapping, index);
    return new Folio(pfn, order, pages);
  }

  /** pfn_to_nid() */
  nidOf(pfn: bigint): number {
    return Math.floor(Number(pfn) / NODE_PFNS);
  }

  /** folio_nr_pages() of the folio pfn belongs to, 0 for none, from the page's own slot (ContPte's Folios) */
  nrPagesAt(pfn: number): number {
    const order = this.pages.get(Math.floor(pfn / SECTION))?.order[pfn % SECTION] ?? 0;
    return order === 0 ? 0 : 1 << (order - 1);
  }

  /** PageAnonExclusive() of the page pfn, from its own slot: set only on pages of anonymous folios in use */
  exclusiveAt(pfn: number): boolean {
    return this.pages.get(Math.floor(pfn / SECTION))?.exclusive[pfn % SECTION] === 1;
  }

  folioOf(pfn: bigint): Folio | null {
    return this.folioAt(Number(pfn));
  }

  /** page_folio() of a pfn held as a number, as bulk paths over a table's words have it */
  folioAt(pfn: number): Folio | null {
    const s = this.pages.get(Math.floor(pfn / SECTION));
    const order = s === undefined ? 0 : s.order[pfn % SECTION]!;
    if (order === 0) return null;
    // a folio is aligned to its size, so its head is the page's frame rounded down
    return new Folio(pfn - (pfn % (1 << (order - 1))), order - 1, s!);
  }

  /**
   * folio_try_dup_anon_rmap_pte() or folio_dup_file_rmap_pte() of a small
   * folio's page, from its slots (no handle): mapped once more, and an
   * anonymous page no longer exclusive. False, with nothing done, where pfn
   * is not a small folio's.
   */
  dupSmallRmapAt(pfn: number): boolean {
    const s = this.pages.get(Math.floor(pfn / SECTION));
    const at = pfn % SECTION;
    if (s === undefined || s.order[at] !== 1) return false;
    const before = s.mapcount[at]!;
    s.mapcount[at] = before + 1;
    if (before === 0) s.mappedPages[at] = s.mappedPages[at]! + 1;
    if (s.flags[at]! & PG_ANON) s.exclusive[at] = 0;
    return true;
  }

  isZeroPfn(pfn: bigint): boolean {
    return pfn === this.zeroPfn || (pfn >= this.hugeZeroPfn && pfn < this.hugeZeroPfn + BigInt(HPAGE_PMD_NR));
  }

  /** Drops a folio nobody maps or caches any more. */
  free(f: Folio): void {
    const s = f.pages;
    // a freed folio's pages say nothing: their slots are read by pfn alone (folioAt(), nrPagesAt(), exclusiveAt())
    const k = f.pfnNr % SECTION;
    s.order.fill(0, k, k + f.nrPages);
    s.exclusive.fill(0, k, k + f.nrPages);
    s.used -= f.nrPages;
    if (s.used === 0) this.pages.delete(Math.floor(f.pfnNr / SECTION));
    this.bytes.drop(f.pfnNr, f.nrPages);
  }

  read(pfn: bigint, offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.bytes.read(Number(pfn), offset, out);
    return out;
  }

  /** One byte of a page (a load of a char). */
  readByte(pfn: number, offset: number): number {
    return this.bytes.readByte(pfn, offset);
  }

  write(pfn: bigint, offset: number, bytes: Uint8Array): void {
    this.bytes.write(Number(pfn), offset, bytes);
  }

  /** memset() of n bytes of a page from offset */
  fill(pfn: number, offset: number, n: number, byte: number): void {
    this.bytes.fill(pfn, offset, n, byte);
  }

  /** One byte of a page (a store of a char). */
  writeByte(pfn: number, offset: number, value: number): void {
    this.bytes.writeByte(pfn, offset, value);
  }

  /** Has the page ever been written (a page that has not reads as zeroes)? */
  hasData(pfn: bigint): boolean {
    return this.bytes.has(Number(pfn));
  }

  /** A copy of a page's content, null when it was never written (all zeroes). */
  pageData(pfn: bigint): Uint8Array | null {
    return this.hasData(pfn) ? this.read(pfn, 0, PAGE_SIZE) : null;
  }

  /** swap_read_folio(): a page's content from elsewhere; null for zeroes. */
  setPageData(pfn: bigint, page: Uint8Array | null): void {
    this.bytes.drop(Number(pfn));
    if (page) this.bytes.write(Number(pfn), 0, page);
  }

  /** pages_identical(page, ZERO_PAGE(0)) */
  isZeroFilled(pfn: bigint): boolean {
    return this.bytes.isZero(Number(pfn));
  }

  /**
   * __split_folio_to_order(0): each page becomes a folio of its own, keeping
   * its mapcount, exclusivity and the folio's dirty, referenced and
   * swapbacked flags.
   */
  splitFolio(f: Folio): Folio[] {
    const s = f.pages;
    const head = f.pfnNr % SECTION;
    const flags = s.flags[head]! & ~PG_HUGETLB;
    const entire = f.pmdMapped;
    const { mapping, index } = f;
    const parts: Folio[] = [];
    for (let i = 0; i < f.nrPages; i++) {
      // the page's slots are its own folio's now: its mapcount gains the pmd's, its exclusivity stays
      const at = head + i;
      s.order[at] = 1;
      s.flags[at] = flags;
      s.pmdMapped[at] = 0;
      s.mapcount[at] = s.mapcount[at]! + entire;
      s.mappedPages[at] = s.mapcount[at]! > 0 ? 1 : 0;
      if (mapping !== null || index !== 0n || i !== 0) setCacheSlot(s, at, mapping, index + BigInt(i));
      parts.push(new Folio(f.pfnNr + i, 0, s));
    }
    return parts;
  }

  /** copy_user_highpage() */
  copyPage(dst: bigint, src: bigint): void {
    this.bytes.copy(Number(dst), Number(src));
  }

  /** pages with content stored, for the memory-proportionality check */
  storedPages(): number {
    return this.bytes.size;
  }
}
