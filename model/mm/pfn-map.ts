// Something per page frame, found by pfn as pfn_to_page() finds a struct
// page in the vmemmap: sections of 4096 frames (SPARSEMEM), each an array
// that exists only while a frame in it is in use. A lookup is two array
// loads, and a run of frames is set or cleared without hashing each one.

const SECTION = 4096;

interface Section<T> {
  readonly slots: (T | undefined)[];
  used: number;
}

export class PfnMap<T> {
  private readonly sections = new Map<number, Section<T>>();
  // the section reached last: runs of nearby frames come back to it
  private lastNr = -1;
  private last: Section<T> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(pfn: number): T | undefined {
    return this.section(Math.floor(pfn / SECTION))?.slots[pfn % SECTION];
  }

  has(pfn: number): boolean {
    return this.get(pfn) !== undefined;
  }

  /** frames [pfn, pfn + nr) all map to value */
  setRange(pfn: number, nr: number, value: T): void {
    for (let i = 0; i < nr; ) {
      const at = pfn + i;
      const nrSec = Math.floor(at / SECTION);
      let s = this.section(nrSec);
      if (s === undefined) {
        s = { slots: new Array<T | undefined>(SECTION).fill(undefined), used: 0 };
        this.sections.set(nrSec, s);
        this.lastNr = nrSec;
        this.last = s;
      }
      const end = Math.min(nr - i, SECTION - (at % SECTION)) + (at % SECTION);
      for (let k = at % SECTION; k < end; k++, i++) {
        if (s.slots[k] === undefined) {
          s.used++;
          this.count++;
        }
        s.slots[k] = value;
      }
    }
  }

  set(pfn: number, value: T): void {
    this.setRange(pfn, 1, value);
  }

  /** frames [pfn, pfn + nr) map to nothing */
  deleteRange(pfn: number, nr: number): void {
    for (let i = 0; i < nr; ) {
      const at = pfn + i;
      const nrSec = Math.floor(at / SECTION);
      const n = Math.min(nr - i, SECTION - (at % SECTION));
      i += n;
      const s = this.section(nrSec);
      if (s === undefined) continue;
      for (let k = at % SECTION, end = k + n; k < end; k++) {
        if (s.slots[k] === undefined) continue;
        s.slots[k] = undefined;
        s.used--;
        this.count--;
      }
      if (s.used === 0) {
        this.sections.delete(nrSec);
        if (this.lastNr === nrSec) this.lastNr = -1;
      }
    }
  }

  private section(nr: number): Section<T> | undefined {
    if (nr === this.lastNr) return this.last;
    const s = this.sections.get(nr);
    if (s !== undefined) {
      this.lastNr = nr;
      this.last = s;
    }
    return s;
  }
}
