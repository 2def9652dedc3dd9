// The bytes of the pages the model's processes have written. A kernel zeroes
// a whole page when it allocates one; the model stores only the 256-byte
// lines a process wrote, so a test that stores one byte per page costs a
// line, not a page (touching 4 KiB per page costs the host as much as the
// kernel's own populate). A line never written reads as zeroes, and a page
// filled whole (memset) stores its byte, no line.
//
// Lines live in slabs of typed arrays, reused through a stack of free ids:
// a store allocates no object. Each page's index of its lines is a record
// found by pfn, as a struct page is in the vmemmap (sections of records in
// pfn order), so freeing a folio reads its records in order.

import { SECTION, Sections } from './pfn-map.ts';

const PAGE_SIZE = 4096;
const LINE = 256;
const LINES_PER_PAGE = PAGE_SIZE / LINE;
/** lines per slab (1 MiB) and pages per index slab (256 KiB) */
const SLAB = 4096;


/**
 * A pool of fixed-size records in slabs, numbered from 1 (0 means none),
 * reused once freed. The free ones are a stack of their numbers in one
 * typed array, apart from the records: freeing a gigabyte's pages writes
 * that array in order instead of touching every freed record (a cache miss
 * each, which made freeing cost more than all else in a large munmap).
 */
class Pool<A extends Uint8Array | Int32Array> {
  private readonly slabs: A[] = [];
  private freeIds = new Int32Array(SLAB);
  private nrFree = 0;
  private next = 1;
  /** size: elements per record */
  constructor(
    private readonly size: number,
    private readonly make: (length: number) => A,
  ) {}

  /** a zero-filled record */
  alloc(): number {
    if (this.nrFree > 0) {
      const id = this.freeIds[--this.nrFree]!;
      this.slab(id).fill(0, this.offset(id), this.offset(id) + this.size);
      return id;
    }
    const fresh = this.next++;
    if (Math.floor(fresh / SLAB) === this.slabs.length) this.slabs.push(this.make(SLAB * this.size));
    return fresh;
  }
  free(id: number): void {
    if (this.nrFree === this.freeIds.length) {
      const grown = new Int32Array(this.freeIds.length * 2);
      grown.set(this.freeIds);
      this.freeIds = grown;
    }
    this.freeIds[this.nrFree++] = id;
  }
  slab(id: number): A {
    return this.slabs[Math.floor(id / SLAB)]!;
  }
  /** where the record starts in its slab, in the slab's elements */
  offset(id: number): number {
    return (id % SLAB) * this.size;
  }
}

/**
 * A page's record is a word of meta (its fill byte + 1 in bits [8:0], 0 for
 * no record; a bit per line stored from bit 9) and its line ids (0 where
 * none is stored), apart: freeing pages reads their meta in pfn order and
 * touches line ids only where a line is stored.
 */
const FILL_MASK = 0x1ff;
const LINE_BIT = 9;

interface RecordSection {
  readonly meta: Int32Array;
  readonly lineIds: Int32Array;
  used: number;
}

export class PageBytes {
  private readonly sections = new Sections<RecordSection>();
  private readonly lines = new Pool(LINE, (n) => new Uint8Array(n));
  private count = 0;

  /** pages with bytes stored */
  get size(): number {
    return this.count;
  }

  has(pfn: number): boolean {
    return this.recordOf(pfn) !== undefined;
  }

  readByte(pfn: number, offset: number): number {
    const s = this.recordOf(pfn);
    if (s === undefined) return 0;
    const line = s.lineIds[ids(pfn) + Math.floor(offset / LINE)]!;
    return line === 0 ? fillOf(s, pfn) : this.lines.slab(line)[this.lines.offset(line) + (offset % LINE)]!;
  }

  writeByte(pfn: number, offset: number, value: number): void {
    const line = this.lineFor(this.recordFor(pfn), pfn, Math.floor(offset / LINE));
    this.lines.slab(line)[this.lines.offset(line) + (offset % LINE)] = value;
  }

  /** bytes [offset, offset + out.length) of the page into out */
  read(pfn: number, offset: number, out: Uint8Array): void {
    const s = this.recordOf(pfn);
    out.fill(0);
    if (s === undefined) return;
    const fill = fillOf(s, pfn);
    for (let done = 0; done < out.length; ) {
      const a = offset + done;
      const n = Math.min(out.length - done, LINE - (a % LINE));
      const line = s.lineIds[ids(pfn) + Math.floor(a / LINE)]!;
      if (line !== 0) {
        const start = this.lines.offset(line) + (a % LINE);
        out.set(this.lines.slab(line).subarray(start, start + n), done);
      } else if (fill !== 0) out.fill(fill, done, done + n);
      done += n;
    }
  }

  write(pfn: number, offset: number, bytes: Uint8Array): void {
    const s = this.recordFor(pfn);
    for (let done = 0; done < bytes.length; ) {
      const a = offset + done;
      const n = Math.min(bytes.length - done, LINE - (a % LINE));
      const line = this.lineFor(s, pfn, Math.floor(a / LINE));
      this.lines.slab(line).set(bytes.subarray(done, done + n), this.lines.offset(line) + (a % LINE));
      done += n;
    }
  }

  /**
   * n bytes of the page from offset set to byte (memset). A whole page
   * becomes its fill byte with no line stored (and no record for zeroes),
   * and a line not stored that is to hold the page's fill byte stays so.
   */
  fill(pfn: number, offset: number, n: number, byte: number): void {
    if (offset === 0 && n === PAGE_SIZE) {
      this.drop(pfn);
      if (byte !== 0) this.recordFor(pfn).meta[pfn % SECTION] = byte + 1;
      return;
    }
    const s = byte === 0 ? this.recordOf(pfn) : this.recordFor(pfn);
    if (s === undefined) return;
    for (let done = 0; done < n; ) {
      const a = offset + done;
      const len = Math.min(n - done, LINE - (a % LINE));
      const i = Math.floor(a / LINE);
      if (s.lineIds[ids(pfn) + i] !== 0 || byte !== fillOf(s, pfn)) {
        const line = this.lineFor(s, pfn, i);
        const start = this.lines.offset(line) + (a % LINE);
        this.lines.slab(line).fill(byte, start, start + len);
      }
      done += len;
    }
  }

  /** Pages [pfn, pfn + nr) read as zeroes from now on: their lines freed and their records cleared, in pfn order. */
  drop(pfn: number, nr = 1): void {
    if (this.count === 0) return;
    if (nr === 1) {
      // a small folio freed, as each page of a munmap is: its section at hand, no closure
      const s = this.sections.get(Math.floor(pfn / SECTION));
      if (s === undefined) return;
      this.dropRecord(s, pfn % SECTION);
      if (s.used === 0) this.sections.delete(Math.floor(pfn / SECTION));
      return;
    }
    this.sections.eachIn(pfn, nr, (s, from, to) => {
      for (let k = from; k < to; k++) this.dropRecord(s, k);
    });
  }

  // the record in slot k of section s, if any, and its lines
  private dropRecord(s: RecordSection, k: number): void {
    const meta = s.meta[k]!;
    if (meta === 0) return;
    for (let mask = meta >>> LINE_BIT, at = k * LINES_PER_PAGE; mask !== 0; mask >>>= 1, at++) {
      if ((mask & 1) === 0) continue;
      this.lines.free(s.lineIds[at]!);
      s.lineIds[at] = 0;
    }
    s.meta[k] = 0;
    s.used--;
    this.count--;
  }

  /** dst's bytes become a copy of src's */
  copy(dst: number, src: number): void {
    if (dst === src) return;
    this.drop(dst);
    const from = this.recordOf(src);
    if (from === undefined) return;
    const to = this.recordFor(dst);
    to.meta[dst % SECTION] = from.meta[src % SECTION]! & FILL_MASK;
    for (let i = 0; i < LINES_PER_PAGE; i++) {
      const line = from.lineIds[ids(src) + i]!;
      if (line === 0) continue;
      const copy = this.lineFor(to, dst, i);
      const start = this.lines.offset(line);
      this.lines.slab(copy).set(this.lines.slab(line).subarray(start, start + LINE), this.lines.offset(copy));
    }
  }

  /** pages_identical(page, ZERO_PAGE(0)) */
  isZero(pfn: number): boolean {
    const s = this.recordOf(pfn);
    if (s === undefined) return true;
    for (let i = 0; i < LINES_PER_PAGE; i++) {
      const line = s.lineIds[ids(pfn) + i]!;
      if (line === 0) {
        if (fillOf(s, pfn) !== 0) return false;
        continue;
      }
      const slab = this.lines.slab(line);
      for (let k = this.lines.offset(line), end = k + LINE; k < end; k++) if (slab[k] !== 0) return false;
    }
    return true;
  }

  // pfn's section, where pfn has a record
  private recordOf(pfn: number): RecordSection | undefined {
    const s = this.sections.get(Math.floor(pfn / SECTION));
    return s !== undefined && s.meta[pfn % SECTION] !== 0 ? s : undefined;
  }

  // pfn's section, with a record for pfn made (no line, zeroes) where it had none
  private recordFor(pfn: number): RecordSection {
    const s = this.sections.getOrCreate(Math.floor(pfn / SECTION), () => ({ meta: new Int32Array(SECTION), lineIds: new Int32Array(SECTION * LINES_PER_PAGE), used: 0 }));
    if (s.meta[pfn % SECTION] === 0) {
      s.meta[pfn % SECTION] = 1;
      s.used++;
      this.count++;
    }
    return s;
  }

  // the line stored for line i of pfn's page: a new one holds the page's fill byte
  private lineFor(s: RecordSection, pfn: number, i: number): number {
    let line = s.lineIds[ids(pfn) + i]!;
    if (line === 0) {
      line = this.lines.alloc();
      s.lineIds[ids(pfn) + i] = line;
      s.meta[pfn % SECTION]! |= 1 << (LINE_BIT + i);
      const fill = fillOf(s, pfn);
      if (fill !== 0) this.lines.slab(line).fill(fill, this.lines.offset(line), this.lines.offset(line) + LINE);
    }
    return line;
  }
}

/** where pfn's line ids start in its section's */
function ids(pfn: number): number {
  return (pfn % SECTION) * LINES_PER_PAGE;
}

/** the byte a line of pfn's page that is not stored reads as */
function fillOf(s: RecordSection, pfn: number): number {
  return (s.meta[pfn % SECTION]! & FILL_MASK) - 1;
}
