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

/** A question about a present entry's attributes, answered by `ask` once per attribute pattern. */
export class AttrQuestion {
  private lastKey = -1;
  private lastAnswer = false;
  private readonly answers = new Map<number, boolean>();

  constructor(private readonly ask: (pte: bigint) => boolean) {}

  of(lo: number, hi: number): boolean {
    const key = attrsOf(lo, hi);
    if (key === this.lastKey) return this.lastAnswer;
    let answer = this.answers.get(key);
    if (answer === undefined) {
      answer = this.ask(joinWords(lo, hi));
      this.answers.set(key, answer);
    }
    this.lastKey = key;
    this.lastAnswer = answer;
    return answer;
  }
}

/** A change of a present entry's attributes, worked out by `change` once per attribute pattern. */
export class AttrChange {
  private lastKey = -1;
  private lastAttrs = -1;
  // the changed attributes' bits in place in each word
  private lastLo = 0;
  private lastHi = 0;
  private readonly changed = new Map<number, number>();

  constructor(private readonly change: (pte: bigint) => bigint) {}

  /** The changed entry's attributes, packed as attrsOf() packs them; -1 when the change moves the page. */
  attrsAfter(lo: number, hi: number): number {
    const key = attrsOf(lo, hi);
    if (key === this.lastKey) return this.lastAttrs;
    let attrs = this.changed.get(key);
    if (attrs === undefined) {
      const pte = joinWords(lo, hi);
      const next = this.change(pte);
      attrs = ((next ^ pte) & PTE_ADDR_MASK) !== 0n ? -1 : attrsOf(Number(next & 0xffff_ffffn), Number(next >> 32n));
      this.changed.set(key, attrs);
    }
    this.lastKey = key;
    this.lastAttrs = attrs;
    this.lastLo = attrs & LO_ATTRS;
    this.lastHi = Math.floor(attrs / 0x1000) * 0x1_0000;
    return attrs;
  }

  /** Writes the changed entry over the words at w[at] (low) and w[at + 1]; false, with nothing written, when the change moves the page. */
  applyTo(w: Uint32Array, at: number): boolean {
    const lo = w[at]!;
    const hi = w[at + 1]!;
    if (this.attrsAfter(lo, hi) < 0) return false;
    // a Uint32Array keeps the low 32 bits of what it is given
    w[at] = (lo & LO_PAGE) | this.lastLo;
    w[at + 1] = (hi & HI_PAGE) + this.lastHi;
    return true;
  }
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
