// The bytes of the pages the model's processes have written. A kernel zeroes
// a whole page when it allocates one; the model stores only the 256-byte
// lines a process wrote, so a test that stores one byte per page costs a
// line, not a page (touching 4 KiB per page costs the host as much as the
// kernel's own populate). A line never written reads as zeroes.
//
// Lines and each page's line index live in slabs of typed arrays, reused
// through free lists: a store allocates no object, and freeing a page
// frees its lines.

import { PfnMap } from './pfn-map.ts';

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

export class PageBytes {
  /** pfn -> the page's index record: one line id per line, 0 where never written */
  private readonly pages = new PfnMap<number>();
  private readonly index = new Pool(LINES_PER_PAGE, (n) => new Int32Array(n));
  private readonly lines = new Pool(LINE, (n) => new Uint8Array(n));

  /** pages with bytes stored */
  get size(): number {
    return this.pages.size;
  }

  has(pfn: number): boolean {
    return this.pages.has(pfn);
  }

  readByte(pfn: number, offset: number): number {
    const page = this.pages.get(pfn);
    if (page === undefined) return 0;
    const line = this.index.slab(page)[this.index.offset(page) + Math.floor(offset / LINE)]!;
    return line === 0 ? 0 : this.lines.slab(line)[this.lines.offset(line) + (offset % LINE)]!;
  }

  writeByte(pfn: number, offset: number, value: number): void {
    const line = this.lineFor(this.pageFor(pfn), Math.floor(offset / LINE));
    this.lines.slab(line)[this.lines.offset(line) + (offset % LINE)] = value;
  }

  /** bytes [offset, offset + out.length) of the page into out */
  read(pfn: number, offset: number, out: Uint8Array): void {
    const page = this.pages.get(pfn);
    out.fill(0);
    if (page === undefined) return;
    const idx = this.index.slab(page);
    const base = this.index.offset(page);
    for (let done = 0; done < out.length; ) {
      const at = offset + done;
      const n = Math.min(out.length - done, LINE - (at % LINE));
      const line = idx[base + Math.floor(at / LINE)]!;
      if (line !== 0) {
        const start = this.lines.offset(line) + (at % LINE);
        out.set(this.lines.slab(line).subarray(start, start + n), done);
      }
      done += n;
    }
  }

  write(pfn: number, offset: number, bytes: Uint8Array): void {
    const page = this.pageFor(pfn);
    for (let done = 0; done < bytes.length; ) {
      const at = offset + done;
      const n = Math.min(bytes.length - done, LINE - (at % LINE));
      const line = this.lineFor(page, Math.floor(at / LINE));
      this.lines.slab(line).set(bytes.subarray(done, done + n), this.lines.offset(line) + (at % LINE));
      done += n;
    }
  }

  /** n bytes of the page from offset set to byte: a line never written that is to hold zeroes stays unstored */
  fill(pfn: number, offset: number, n: number, byte: number): void {
    const page = byte === 0 ? this.pages.get(pfn) : this.pageFor(pfn);
    if (page === undefined) return;
    for (let done = 0; done < n; ) {
      const at = offset + done;
      const len = Math.min(n - done, LINE - (at % LINE));
      const i = Math.floor(at / LINE);
      const line = byte === 0 ? this.index.slab(page)[this.index.offset(page) + i]! : this.lineFor(page, i);
      if (line !== 0) {
        const start = this.lines.offset(line) + (at % LINE);
        this.lines.slab(line).fill(byte, start, start + len);
      }
      done += len;
    }
  }

  /** Pages [pfn, pfn + nr) read as zeroes from now on. */
  drop(pfn: number, nr = 1): void {
    if (this.pages.size === 0) return;
    for (let p = pfn; p < pfn + nr; p++) {
      const page = this.pages.get(p);
      if (page === undefined) continue;
      const idx = this.index.slab(page);
      const base = this.index.offset(page);
      for (let i = 0; i < LINES_PER_PAGE; i++) if (idx[base + i] !== 0) this.lines.free(idx[base + i]!);
      this.index.free(page);
    }
    this.pages.deleteRange(pfn, nr);
  }

  /** dst's bytes become a copy of src's */
  copy(dst: number, src: number): void {
    this.drop(dst);
    const from = this.pages.get(src);
    if (from === undefined) return;
    const idx = this.index.slab(from);
    const base = this.index.offset(from);
    const page = this.pageFor(dst);
    for (let i = 0; i < LINES_PER_PAGE; i++) {
      const line = idx[base + i]!;
      if (line === 0) continue;
      const to = this.lineFor(page, i);
      const start = this.lines.offset(line);
      this.lines.slab(to).set(this.lines.slab(line).subarray(start, start + LINE), this.lines.offset(to));
    }
  }

  /** pages_identical(page, ZERO_PAGE(0)) */
  isZero(pfn: number): boolean {
    const page = this.pages.get(pfn);
    if (page === undefined) return true;
    const idx = this.index.slab(page);
    const base = this.index.offset(page);
    for (let i = 0; i < LINES_PER_PAGE; i++) {
      const line = idx[base + i]!;
      if (line === 0) continue;
      const slab = this.lines.slab(line);
      for (let k = this.lines.offset(line), end = k + LINE; k < end; k++) if (slab[k] !== 0) return false;
    }
    return true;
  }

  private pageFor(pfn: number): number {
    let page = this.pages.get(pfn);
    if (page === undefined) {
      page = this.index.alloc();
      this.pages.set(pfn, page);
    }
    return page;
  }

  private lineFor(page: number, i: number): number {
    const idx = this.index.slab(page);
    const at = this.index.offset(page) + i;
    let line = idx[at]!;
    if (line === 0) {
      line = this.lines.alloc();
      idx[at] = line;
    }
    return line;
  }
}
