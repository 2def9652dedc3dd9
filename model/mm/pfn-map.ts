// Something per page frame, found by pfn as pfn_to_page() finds a struct
// page in the vmemmap: sections of 4096 frames (SPARSEMEM), each an array
// that exists only while a frame in it is in use. A lookup is two array
// loads, and a run of frames is set or cleared without hashing each one.

/** frames per section */
export const SECTION = 4096;

/** Sections by number, the one reached last kept at hand: runs of nearby frames come back to it. */
export class Sections<S extends { used: number }> {
  private readonly map = new Map<number, S>();
  private lastNr = -1;
  private last: S | undefined;

  get(nr: number): S | undefined {
    if (nr === this.lastNr) return this.last;
    const s = this.map.get(nr);
    if (s !== undefined) {
      this.lastNr = nr;
      this.last = s;
    }
    return s;
  }

  getOrCreate(nr: number, make: () => S): S {
    let s = this.get(nr);
    if (s === undefined) {
      s = make();
      this.map.set(nr, s);
      this.lastNr = nr;
      this.last = s;
    }
    return s;
  }

  delete(nr: number): void {
    this.map.delete(nr);
    if (this.lastNr === nr) this.lastNr = -1;
  }

  /**
   * Calls fn for each existing section that frames [pfn, pfn + nr) cross,
   * with the slots [from, to) of theirs in it; a section fn leaves with no
   * frame in use is dropped.
   */
  eachIn(pfn: number, nr: number, fn: (s: S, from: number, to: number) => void): void {
    for (let i = 0; i < nr; ) {
      const first = pfn + i;
      const nrSec = Math.floor(first / SECTION);
      const n = Math.min(nr - i, SECTION - (first % SECTION));
      i += n;
      const s = this.get(nrSec);
      if (s === undefined) continue;
      fn(s, first % SECTION, (first % SECTION) + n);
      if (s.used === 0) this.delete(nrSec);
    }
  }
}
