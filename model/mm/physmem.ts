// Physical memory: folios (pages and 2 MiB huge pages) with their content,
// how often each page is mapped, and whether an anonymous page is known to
// be exclusive to one process (PageAnonExclusive). Memory grows with the
// pages allocated, and page content only with the bytes written
// (page-bytes.ts).

import { PAGE_SHIFT } from '../arm64/hwdef.ts';
import { PageBytes } from './page-bytes.ts';
import { PfnMap, SECTION, Sections } from './pfn-map.ts';

export const PAGE_SIZE = 1 << Number(PAGE_SHIFT);
export const HPAGE_PMD_ORDER = 9;
export const HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER;

/** Where a file-backed folio sits: its inode's page cache, at a page index. */
export interface Mapping {
  readonly id: number;
  /** shmem/tmpfs/memfd: pages live only in the page cache */
  readonly shmem: boolean;
}

/**
 * What struct page holds for each page frame (its mapcount,
 * PageAnonExclusive, and its folio's order), in pfn-indexed sections as the vmemmap has them: a
 * folio's pages are slots here, not arrays of its own, so allocating a
 * page allocates no array (and the GC copies none).
 */
export interface PageSection {
  readonly mapcount: Int32Array;
  readonly exclusive: Uint8Array;
  /** the order of the folio holding the page, + 1 (0: no folio), as the folio's pages tell it (folio_nr_pages()) */
  readonly order: Uint8Array;
  /** pages allocated in the section and not freed */
  used: number;
}

export class Folio {
  // how many pages have any pte mapping them (folio_mapped() asks per zap batch)
  private mappedPages = 0;
  /** the folio's first page's slot in its section (a folio never crosses one: both are aligned, a section the larger) */
  private readonly at: number;
  /** mapped by a pmd, as a whole */
  pmdMapped = 0;
  dirty = false;
  /** PG_referenced: accessed other than through a pte's access flag (smaps Referenced counts it) */
  referenced = false;
  /** PG_swapbacked: cleared when MADV_FREE makes an anonymous folio lazyfree */
  swapbacked = true;
  /** from the hugetlb pool: freeing it returns it there */
  hugetlb = false;
  constructor(
    readonly pfn: bigint,
    readonly order: number,
    readonly anon: boolean,
    readonly mapping: Mapping | null,
    readonly index: bigint,
    /** the section holding its pages */
    readonly pages: PageSection,
  ) {
    this.at = Number(pfn) % SECTION;
  }
  get nrPages(): number {
    return 1 << this.order;
  }
  /** the page's index within this folio */
  pageIndex(pfn: bigint): number {
    return Number(pfn - this.pfn);
  }
  /** how many ptes map page i of the folio */
  mapcountOf(i: number): number {
    return this.pages.mapcount[this.at + i]!;
  }
  /** adds delta to the pte mapcount of pages [i, i + nr) */
  addMapcount(i: number, delta: number, nr = 1): void {
    const counts = this.pages.mapcount;
    for (let k = this.at + i, end = k + nr; k < end; k++) {
      const before = counts[k]!;
      const after = before + delta;
      counts[k] = after;
      if (before <= 0 && after > 0) this.mappedPages++;
      else if (before > 0 && after <= 0) this.mappedPages--;
    }
  }
  setMapcount(i: number, count: number): void {
    this.addMapcount(i, count - this.mapcountOf(i));
  }
  /** no pte maps any page any more */
  clearMapcounts(): void {
    for (let k = this.at, end = k + this.nrPages; k < end; k++) this.pages.mapcount[k] = 0;
    this.mappedPages = 0;
  }
  /** Records the folio's order in its pages' slots, which folio_nr_pages() of any of them reads. */
  setOrderOfPages(): void {
    // by hand: a TypedArray fill() is a call into the runtime, which every order-0 folio would pay
    for (let k = this.at, end = k + this.nrPages; k < end; k++) this.pages.order[k] = this.order + 1;
  }
  /** Clears what the folio's pages' slots say of it, as it is freed. */
  clearPageSlots(): void {
    for (let k = this.at, end = k + this.nrPages; k < end; k++) {
      this.pages.order[k] = 0;
      this.pages.exclusive[k] = 0;
    }
  }
  /** Counts the pages mapped afresh, for a folio whose slots another set (the folio it was split from). */
  recountMapped(): void {
    this.mappedPages = 0;
    for (let k = this.at, end = k + this.nrPages; k < end; k++) if (this.pages.mapcount[k]! > 0) this.mappedPages++;
  }
  /** folio_mapped(): is any page mapped anywhere */
  mapped(): boolean {
    return this.pmdMapped > 0 || this.mappedPages > 0;
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
const USER_PFN_BASE = 0x8_0000n;

export class PhysMem {
  // a number: bigint arithmetic allocates on every folio allocated
  private next = Number(USER_PFN_BASE);
  // keyed by the pfn as a number (pfns stay far below 2^53): bigint arithmetic allocates
  private readonly folios = new PfnMap<Folio>();
  private readonly bytes = new PageBytes();
  private readonly pages = new Sections<PageSection>();
  /** the shared zero page, mapped read-only for reads of untouched anonymous memory */
  readonly zeroPfn: bigint;
  /** the huge zero folio (2 MiB of zeroes) */
  readonly hugeZeroPfn: bigint;

  constructor() {
    this.zeroPfn = this.bump(0);
    this.hugeZeroPfn = this.bump(HPAGE_PMD_ORDER);
  }

  private bump(order: number): bigint {
    const align = 2 ** order;
    const pfn = Math.ceil(this.next / align) * align;
    this.next = pfn + align;
    return BigInt(pfn);
  }

  /** folio_alloc(): a new zero-filled folio, its pages mapped nowhere and not exclusive */
  alloc(order: number, anon: boolean, mapping: Mapping | null = null, index = 0n): Folio {
    const pfn = this.bump(order);
    // pfns are never handed out twice, so a new folio's slots hold zeroes
    const pages = this.pages.getOrCreate(Math.floor(Number(pfn) / SECTION), () => ({ mapcount: new Int32Array(SECTION), exclusive: new Uint8Array(SECTION), order: new Uint8Array(SECTION), used: 0 }));
    pages.used += 1 << order;
    const f = new Folio(pfn, order, anon, mapping, index, pages);
    f.setOrderOfPages();
    this.folios.setRange(Number(f.pfn), f.nrPages, f);
    return f;
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

  /** folioOf() of a pfn held as a number, as bulk paths over a table's words have it */
  folioAt(pfn: number): Folio | null {
    return this.folios.get(pfn) ?? null;
  }

  isZeroPfn(pfn: bigint): boolean {
    return pfn === this.zeroPfn || (pfn >= this.hugeZeroPfn && pfn < this.hugeZeroPfn + BigInt(HPAGE_PMD_NR));
  }

  /** Drops a folio nobody maps or caches any more. */
  free(f: Folio): void {
    this.folios.deleteRange(Number(f.pfn), f.nrPages);
    // a freed folio's pages say nothing: their slots are read by pfn alone (nrPagesAt(), exclusiveAt())
    f.clearPageSlots();
    f.pages.used -= f.nrPages;
    if (f.pages.used === 0) this.pages.delete(Math.floor(Number(f.pfn) / SECTION));
    this.bytes.drop(Number(f.pfn), f.nrPages);
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

  /** One byte of a page (a store of a char). */
  /** memset() of n bytes of a page from offset */
  fill(pfn: number, offset: number, n: number, byte: number): void {
    this.bytes.fill(pfn, offset, n, byte);
  }

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
    const parts: Folio[] = [];
    for (let i = 0; i < f.nrPages; i++) {
      // the page's slots are its own folio's now: its mapcount gains the pmd's, its exclusivity stays
      const p = new Folio(f.pfn + BigInt(i), 0, f.anon, f.mapping, f.index + BigInt(i), f.pages);
      p.recountMapped();
      p.setOrderOfPages();
      p.addMapcount(0, f.pmdMapped);
      p.dirty = f.dirty;
      p.referenced = f.referenced;
      p.swapbacked = f.swapbacked;
      this.folios.set(Number(p.pfn), p);
      parts.push(p);
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
