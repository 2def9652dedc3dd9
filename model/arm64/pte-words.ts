// Bulk paths over a pte table's 32-bit words. In a present entry bits
// [47:12] are the page and the rest are its attributes, and what the
// helpers a bulk path asks about (present? uffd-wp? contiguous?) answer, or
// how one changes an entry (pte_modify(), pte_mkuffd_wp()), depends on the
// attributes alone. So a loop over a table works each answer out once per
// attribute pattern, with the bigint helper itself, and remembers it: a
// table whose ptes share their attributes costs a bigint or two, not one
// per helper per pte. A change that turns out to move the page bits is
// never remembered: the caller takes its full path.

import { PTE_ADDR_MASK } from './hwdef.ts';

const LO_ATTRS = 0xfff; // bits [11:0]
const LO_PAGE = 0xffff_f000; // bits [31:12]
const HI_PAGE = 0xffff; // bits [47:32]
const HI_SHIFT = 16; // bits [63:48]

/** A pte slot's first (low) word in its table's 32-bit words (PageTableMemory.pteTableWords()). */
export function wordAt(slot: number): number {
  return (slot % 4096) / 4;
}

/** The descriptor the two words make. */
export function joinWords(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** The attribute bits of an entry as one number: bits [63:48] above bits [11:0]. */
export function attrsOf(lo: number, hi: number): number {
  return (hi >>> HI_SHIFT) * 0x1000 + (lo & LO_ATTRS);
}

/** The page frame number of a present entry (bits [47:12]), as a number. */
export function pfnOfWords(lo: number, hi: number): number {
  return (hi & HI_PAGE) * 0x10_0000 + (lo >>> 12);
}

/** A value worked out from an entry by `compute` once per attribute pattern (the last one asked about first). */
export class PerAttrs<T> {
  private lastKey = -1;
  private last: T | undefined;
  private readonly values = new Map<number, T>();

  constructor(private readonly compute: (pte: bigint) => T) {}

  of(lo: number, hi: number): T {
    const key = attrsOf(lo, hi);
    if (key === this.lastKey) return this.last!;
    let value = this.values.get(key);
    if (value === undefined) {
      value = this.compute(joinWords(lo, hi));
      this.values.set(key, value);
    }
    this.lastKey = key;
    this.last = value;
    return value;
  }
}

/** A question about a present entry's attributes, answered by `ask` once per attribute pattern. */
export class AttrQuestion extends PerAttrs<boolean> {}

/** What a change makes of an entry's attributes: packed as attrsOf() packs them (-1: the change moves the page), and in place in each word. */
export interface Changed {
  readonly attrs: number;
  readonly lo: number;
  readonly hi: number;
}

/** What `pte` became as `next`, as applyChanged() writes it. */
export function changedTo(pte: bigint, next: bigint): Changed {
  if (((next ^ pte) & PTE_ADDR_MASK) !== 0n) return { attrs: -1, lo: 0, hi: 0 };
  const attrs = attrsOf(Number(next & 0xffff_ffffn), Number(next >> 32n));
  return { attrs, lo: attrs & LO_ATTRS, hi: Math.floor(attrs / 0x1000) * 0x1_0000 };
}

/** Writes a changed entry's attributes over the words at w[at] (low) and w[at + 1], its page kept. */
export function applyChanged(w: Uint32Array, at: number, c: Changed): void {
  // a Uint32Array keeps the low 32 bits of what it is given
  w[at] = (w[at]! & LO_PAGE) | c.lo;
  w[at + 1] = (w[at + 1]! & HI_PAGE) + c.hi;
}

/** A change of a present entry's attributes, worked out by `change` once per attribute pattern. */
export class AttrChange {
  private readonly changed: PerAttrs<Changed>;

  constructor(change: (pte: bigint) => bigint) {
    this.changed = new PerAttrs((pte) => changedTo(pte, change(pte)));
  }

  /** What the change makes of an entry with these words' attributes (attrs -1: it moves the page). */
  changedOf(lo: number, hi: number): Changed {
    return this.changed.of(lo, hi);
  }

  /** The changed entry's attributes, packed as attrsOf() packs them; -1 when the change moves the page. */
  attrsAfter(lo: number, hi: number): number {
    return this.changed.of(lo, hi).attrs;
  }

  /** Writes the changed entry over the words at w[at] (low) and w[at + 1]; false, with nothing written, when the change moves the page. */
  applyTo(w: Uint32Array, at: number): boolean {
    const c = this.changed.of(w[at]!, w[at + 1]!);
    if (c.attrs < 0) return false;
    applyChanged(w, at, c);
    return true;
  }
}

/** A pgprot as two words, for entries built on words: the last one asked about is kept. */
export class ProtWords {
  private last: bigint | null = null;
  lo = 0;
  hi = 0;

  /** prot's words, now in lo and hi */
  of(prot: bigint): this {
    if (prot !== this.last) {
      this.last = prot;
      this.lo = Number(prot & 0xffff_ffffn);
      this.hi = Number(prot >> 32n);
    }
    return this;
  }
}

/** pfn_pte() into w[at] (low) and w[at + 1]: the frame in bits [47:12], with the protection's bits. */
export function pfnPteWords(w: Uint32Array, at: number, pfn: number, prot: ProtWords): void {
  // a Uint32Array keeps the low 32 bits of what it is given
  w[at] = ((pfn % 0x10_0000) * 0x1000) | prot.lo;
  w[at + 1] = (Math.floor(pfn / 0x10_0000) & HI_PAGE) | prot.hi;
}

/** Writes nr entries from w[at]: the words of `pte`, its page advancing by one each (__set_ptes()'s pte_advance_pfn()). */
export function setPtesWords(w: Uint32Array, at: number, pte: bigint, nr: number): void {
  let lo = Number(pte & 0xffff_ffffn);
  let hi = Number(pte >> 32n);
  for (let i = 0; i < nr; i++, at += 2) {
    w[at] = lo;
    w[at + 1] = hi;
    lo += 0x1000;
    if (lo >= 0x1_0000_0000) {
      lo -= 0x1_0000_0000;
      hi += 1;
    }
  }
}
