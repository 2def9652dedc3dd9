// The pte API arm64 gives core mm with CONFIG_ARM64_CONTPTE (both Debian
// kernels have it): arch/arm64/include/asm/pgtable.h's public ptep_get(),
// set_ptes() and friends over arch/arm64/mm/contpte.c. They set PTE_CONT
// on their own wherever 16 aligned ptes map 16 aligned pages of one large
// folio alike, unfold a block before changing part of it, and answer
// ptep_get() with the young and dirty bits of the whole block.
//
// A pte is named by its slot, the physical address of its descriptor (a
// number): a pte table's slots follow the virtual addresses they map, so
// the slot alone says where a pte sits in its 64 KiB block
// (contpte_align_down()).

import { PTE_CONT } from './hwdef.ts';
import type { Pgtable, Pte } from './pgtable.ts';
import { AttrChange, AttrQuestion, applyChanged, attrsOf, type Changed, changedTo, joinWords, PerAttrs, pfnOfWords, setPtesWords, wordAt } from './pte-words.ts';

/** CONT_PTES: 16 ptes, 64 KiB with 4 KiB pages */
export const CONT_PTES = 16;
const CONT = 16n;
const BLOCK_BYTES = CONT_PTES * 8;
const PFN_STEP = 1n << 12n;

/** The descriptors the API reads and writes (a page-table memory). */
export interface PteMemory {
  read(slot: number): bigint;
  write(slot: number, val: bigint): void;
  /** the 32-bit words of the pte table holding slot (its entry at word (slot % 4096) / 4, low word first) */
  pteTableWords(slot: number): Uint32Array;
}

/** The folios pages belong to, as contpte asks after them (pfns as numbers). */
export interface Folios {
  /** page_folio(pfn_to_page(pfn)), null for none */
  folioAt(pfn: number): { readonly pfn: bigint; readonly pfnNr: number; readonly nrPages: number } | null;
  /** folio_nr_pages() of the folio pfn belongs to, 0 for none: from the page's own slot, without the folio */
  nrPagesAt(pfn: number): number;
}

/** clear_young_dirty_ptes()'s cydp_t */
export interface Cydp {
  young: boolean;
  dirty: boolean;
}

const alignDown = (slot: number) => slot - (slot % BLOCK_BYTES);
const indexInBlock = (slot: number) => (slot % BLOCK_BYTES) / 8;
/** PTE_CONT in an entry's high word */
const PTE_CONT_HI = Number(PTE_CONT >> 32n);
// pte_advance_pfn()
const advancePfn = (pte: Pte, nr: bigint) => pte + nr * PFN_STEP;

export class ContPte {
  // what the block operations ask of entries they know present, on the table's words (pte-words.ts)
  /** pte_dirty(), for bulk paths on words too */
  readonly dirty: AttrQuestion;
  private readonly young: AttrQuestion;
  private readonly valid: AttrQuestion;
  private readonly cleanOld: AttrChange;
  private readonly wrprotect: AttrChange;
  /** For bulk paths on a table's words: is the entry present and not contiguous (its ptep_get() is itself)? */
  readonly plain: AttrQuestion;
  private readonly validContWords: AttrQuestion;
  /** unfoldWords()'s change, by the attributes of the entry unfolded from and the bits gathered (attrsOf() * 4 + dirty * 2 + young) */
  private readonly unfolded = new Map<number, Changed>();
  /** tryFoldWords()'s change of 16 entries alike, by their attributes: null where the fold refuses them */
  private readonly folded: PerAttrs<Changed | null>;

  constructor(
    private readonly mem: PteMemory,
    private readonly pg: Pgtable,
    private readonly folios: Folios,
  ) {
    this.dirty = new AttrQuestion((p) => pg.pteDirty(p));
    this.young = new AttrQuestion((p) => pg.pteYoung(p));
    this.valid = new AttrQuestion((p) => pg.pteValid(p));
    this.cleanOld = new AttrChange((p) => pg.pteMkold(pg.pteMkclean(p)));
    this.wrprotect = new AttrChange((p) => pg.pteWrprotect(p));
    this.plain = new AttrQuestion((p) => pg.ptePresent(p) && (p & PTE_CONT) === 0n);
    this.validContWords = new AttrQuestion((p) => this.validCont(p));
    // contpte_try_fold()'s tests of the last entry, then contpte_convert() of 16 entries alike: young and dirty gathered from one
    this.folded = new PerAttrs((p) =>
      !pg.pteValid(p) || (p & PTE_CONT) !== 0n || pg.pteSpecial(p) ? null : changedTo(p, this.withGathered(pg.pteMkcont(p), { dirty: pg.pteDirty(p), young: pg.pteYoung(p) })),
    );
  }

  private validCont(pte: Pte): boolean {
    return (pte & PTE_CONT) !== 0n && this.pg.pteValid(pte);
  }

  // __set_ptes(): nr entries from pte, the pfn advancing (a pte table's entries, so on its words)
  private rawSetPtes(slot: number, pte: Pte, nr: number): void {
    setPtesWords(this.mem.pteTableWords(slot), wordAt(slot), pte, nr);
  }

  /**
   * Whether any of the nr present entries from slot is dirty, and any young,
   * on the table's words; with `clear`, each is cleared as it is read.
   */
  private gather(slot: number, nr: number, clear: boolean): { dirty: boolean; young: boolean } {
    const w = this.mem.pteTableWords(slot);
    let dirty = false;
    let young = false;
    for (let i = 0, at = wordAt(slot); i < nr; i++, at += 2) {
      if (!dirty && this.dirty.of(w[at]!, w[at + 1]!)) dirty = true;
      if (!young && this.young.of(w[at]!, w[at + 1]!)) young = true;
      if (clear) w[at] = w[at + 1] = 0;
      else if (dirty && young) break; // contpte_ptep_get() stops reading once it has seen both
    }
    return { dirty, young };
  }

  /**
   * pte with the young and dirty bits gathered (once each: both are
   * idempotent). The RFC's contpte helpers gather with __pte_mkdirty(), so
   * that an unfold or a fold never makes a pte soft-dirty.
   */
  private withGathered(pte: Pte, g: { dirty: boolean; young: boolean }): Pte {
    if (g.dirty) pte = this.pg.__pteMkdirty(pte);
    return g.young ? this.pg.pteMkyoung(pte) : pte;
  }

  // contpte_convert(): clear the block, gather its young and dirty bits, write it again as pte says
  private convert(slot: number, pte: Pte): void {
    const start = alignDown(slot);
    pte = advancePfn(pte, -(this.pg.ptePfn(pte) & (CONT - 1n)));
    this.rawSetPtes(start, this.withGathered(pte, this.gather(start, CONT_PTES, true)), CONT_PTES);
  }

  // contpte_try_fold(): only at the last pte of a block, mapping the last page of an aligned 16
  private tryFold(slot: number, pte: Pte): void {
    const pg = this.pg;
    if (indexInBlock(slot) !== CONT_PTES - 1) return;
    if ((pg.ptePfn(pte) & (CONT - 1n)) !== CONT - 1n) return;
    if (!pg.pteValid(pte) || (pte & PTE_CONT) !== 0n || pg.pteSpecial(pte)) return;
    this.__contpteTryFold(slot, pte);
  }

  // __contpte_try_fold(): one folio covers the block, and its 16 ptes differ only in young and dirty
  private __contpteTryFold(slot: number, pte: Pte): void {
    const pg = this.pg;
    const pfn = pg.ptePfn(pte);
    const folio = this.folios.folioAt(Number(pfn));
    if (folio === null) return;
    const idx = BigInt(indexInBlock(slot));
    const offset = pfn - folio.pfn;
    if (offset < idx || BigInt(folio.nrPages) - offset < CONT - idx) return;
    // each entry, made old and clean, must be pte's so made, its page advancing: on the table's words
    // (an entry that is not valid never matches, since pte is)
    const expected = pg.pteMkold(pg.pteMkclean(pte));
    const attrs = attrsOf(Number(expected & 0xffff_ffffn), Number(expected >> 32n));
    const w = this.mem.pteTableWords(slot);
    const firstPfn = Number(pfn) - indexInBlock(slot);
    for (let i = 0, at = wordAt(alignDown(slot)); i < CONT_PTES; i++, at += 2) {
      const lo = w[at]!;
      const hi = w[at + 1]!;
      if (!this.valid.of(lo, hi) || this.cleanOld.attrsAfter(lo, hi) !== attrs || pfnOfWords(lo, hi) !== firstPfn + i) return;
    }
    this.convert(slot, pg.pteMkcont(pte));
  }

  // contpte_try_unfold(): on the table's words where the block is whole
  private tryUnfold(slot: number, pte: Pte): void {
    if (!this.validCont(pte)) return;
    const start = alignDown(slot);
    if (!this.unfoldWords(this.mem.pteTableWords(start), wordAt(start), start, indexInBlock(slot))) this.convert(slot, this.pg.pteMknoncont(pte));
  }

  // contpte_try_unfold_partial(): a range that starts or ends inside a block unfolds that block
  private tryUnfoldPartial(slot: number, nr: number): void {
    if (slot !== alignDown(slot) || nr < CONT_PTES) this.tryUnfold(slot, this.mem.read(slot));
    const end = slot + nr * 8;
    if (end !== alignDown(end)) this.tryUnfold(end - 8, this.mem.read(end - 8));
  }

  // contpte_align_addr_ptep(): widen [slot, slot + nr) to the blocks it touches
  private alignRange(slot: number, nr: number): [number, number] {
    let end = slot + nr * 8;
    if ((this.mem.read(end - 8) & PTE_CONT) !== 0n) end = alignDown(end + BLOCK_BYTES - 8);
    if ((this.mem.read(slot) & PTE_CONT) !== 0n) slot = alignDown(slot);
    return [slot, end];
  }

  /** ptep_get(): a contiguous pte carries the young and dirty bits of its whole block (contpte_ptep_get()) */
  ptepGet(slot: number): Pte {
    const pte = this.mem.read(slot);
    if (!this.validCont(pte)) return pte;
    return this.withGathered(pte, this.gather(alignDown(slot), CONT_PTES, false));
  }

  /** set_ptes(): PTE_CONT is the API's own business, never the caller's */
  setPtes(slot: number, pte: Pte, nr: number): void {
    pte = this.pg.pteMknoncont(pte);
    if (nr === 1) {
      this.tryUnfold(slot, this.mem.read(slot));
      this.mem.write(slot, pte);
      this.tryFold(slot, pte);
    } else this.contpteSetPtes(slot, pte, nr);
  }

  /** set_pte_at() */
  setPteAt(slot: number, pte: Pte): void {
    this.setPtes(slot, pte, 1);
  }

  /**
   * wrprotect_ptes(): ___ptep_set_wrprotect() of each raw entry, on the
   * table's words. One entry leaves its block, unfolded and not folded
   * again; a run keeps the blocks it covers whole contiguous, and unfolds
   * only a block it takes part of (contpte_wrprotect_ptes()).
   */
  wrprotectPtes(slot: number, nr: number): void {
    if (nr === 1) this.tryUnfold(slot, this.mem.read(slot));
    else this.tryUnfoldPartial(slot, nr);
    const w = this.mem.pteTableWords(slot);
    for (let i = 0, at = wordAt(slot); i < nr; i++, at += 2) {
      if (!this.wrprotect.applyTo(w, at)) this.mem.write(slot + 8 * i, this.pg.pteWrprotect(this.mem.read(slot + 8 * i)));
    }
  }

  /** set_pte_at() of an entry built on its words (lo, hi), which makes no bigint unless a block is to fold or unfold */
  setPteAtWords(slot: number, lo: number, hi: number): void {
    const w = this.mem.pteTableWords(slot);
    const at = wordAt(slot);
    // set_ptes() strips PTE_CONT from the entry, and a contiguous block under it unfolds: the bigint path's business
    if ((hi & PTE_CONT_HI) !== 0 || this.validContWords.of(w[at]!, w[at + 1]!)) return this.setPteAt(slot, joinWords(lo, hi));
    w[at] = lo;
    w[at + 1] = hi;
    if (indexInBlock(slot) === CONT_PTES - 1) this.tryFold(slot, joinWords(lo, hi));
  }

  // contpte_set_ptes(): every whole aligned block of the range goes in contiguous (the range was none)
  private contpteSetPtes(slot: number, pte: Pte, nr: number): void {
    const pg = this.pg;
    // whole blocks only (a huge pmd split, a populate of a large folio): all of them at once
    if (slot === alignDown(slot) && nr % CONT_PTES === 0 && (pg.ptePfn(pte) & (CONT - 1n)) === 0n) return this.rawSetPtes(slot, pg.pteMkcont(pte), nr);
    const end = slot + nr * 8;
    while (slot !== end) {
      const boundary = alignDown(slot) + BLOCK_BYTES;
      const next = boundary < end ? boundary : end;
      const n = (next - slot) / 8;
      const whole = slot === alignDown(slot) && next === alignDown(next) && (pg.ptePfn(pte) & (CONT - 1n)) === 0n;
      this.rawSetPtes(slot, whole ? pg.pteMkcont(pte) : pg.pteMknoncont(pte), n);
      pte = advancePfn(pte, BigInt(n));
      slot = next;
    }
  }

  /** pte_clear() */
  pteClear(slot: number): void {
    this.tryUnfold(slot, this.mem.read(slot));
    this.mem.write(slot, 0n);
  }

  /** ptep_get_and_clear() */
  ptepGetAndClear(slot: number): Pte {
    let pte = this.mem.read(slot);
    if (this.validCont(pte)) {
      this.tryUnfold(slot, pte);
      pte = this.mem.read(slot); // __ptep_get_and_clear() reads the unfolded entry
    }
    this.mem.write(slot, 0n);
    return pte;
  }

  /** get_and_clear_full_ptes(): the first pte, with the young and dirty bits of all nr */
  getAndClearFullPtes(slot: number, nr: number): Pte {
    if (nr === 1) return this.ptepGetAndClear(slot);
    this.tryUnfoldPartial(slot, nr);
    const pte = this.mem.read(slot);
    this.mem.write(slot, 0n);
    return this.withGathered(pte, this.gather(slot + 8, nr - 1, true));
  }

  /** `change` as modifyProtWords() applies it: set_ptes() commits an entry without PTE_CONT. */
  protChange(change: (pte: Pte) => Pte): AttrChange {
    return new AttrChange((p) => this.pg.pteMknoncont(change(p)));
  }

  /**
   * Whether set_ptes() of the entry at word `at` of its table's words, at
   * slot, might fold its block (contpte_try_fold()'s candidates: the last
   * pte of a block, mapping the last page of an aligned 16, of a folio
   * large enough to cover the block). A bulk path on words leaves such an
   * entry to the full path.
   */
  mayFold(w: Uint32Array, at: number, slot: number): boolean {
    const lo = w[at]!;
    if (indexInBlock(slot) !== CONT_PTES - 1 || ((lo >>> 12) & (CONT_PTES - 1)) !== CONT_PTES - 1) return false;
    return this.folios.nrPagesAt(pfnOfWords(lo, w[at + 1]!)) >= CONT_PTES;
  }

  /**
   * modify_prot_start_ptes() and _commit_ptes() of one present entry that
   * is not contiguous (`plain`), at word `at` of its table's words,
   * with its attributes changed as `change` says: false, with nothing done,
   * where set_ptes() might fold the block (mayFold()) or the change moves
   * the page. The caller then takes the full path.
   */
  modifyProtWords(w: Uint32Array, at: number, slot: number, change: AttrChange): boolean {
    return !this.mayFold(w, at, slot) && change.applyTo(w, at);
  }

  /**
   * modify_prot_start_ptes() and _commit_ptes() of each entry of a whole
   * block in turn, from slot (its first), each changed as `change`
   * (protChange()) says, on the table's words: a contiguous block is
   * unfolded by the first, and the last may fold the block (again). False,
   * with nothing done, where the block is neither all contiguous nor all
   * present and not contiguous; the caller then takes the full path, entry
   * by entry (after an unfold, which is that path's first step too).
   */
  modifyProtBlockWords(w: Uint32Array, at: number, slot: number, change: AttrChange): boolean {
    const end = at + 2 * CONT_PTES;
    if (this.validContWords.of(w[at]!, w[at + 1]!) && !this.unfoldWords(w, at, slot, 0)) return false;
    // entries alike in their attributes (as an unfold leaves them) take one change
    const attrs = attrsOf(w[at]!, w[at + 1]!);
    let alike = true;
    for (let a = at + 2; alike && a < end; a += 2) alike = attrsOf(w[a]!, w[a + 1]!) === attrs;
    if (alike) {
      const c = change.changedOf(w[at]!, w[at + 1]!);
      if (!this.plain.of(w[at]!, w[at + 1]!) || c.attrs < 0) return false;
      for (let a = at; a < end; a += 2) applyChanged(w, a, c);
    } else {
      for (let a = at; a < end; a += 2) if (!this.plain.of(w[a]!, w[a + 1]!) || change.attrsAfter(w[a]!, w[a + 1]!) < 0) return false;
      for (let a = at; a < end; a += 2) change.applyTo(w, a);
    }
    this.tryFoldWords(w, at, slot, alike);
    return true;
  }

  /**
   * contpte_convert() of a whole contiguous block to non-contiguous ptes
   * (contpte_try_unfold()) from its entry `from` (0-15), on the table's
   * words: every entry becomes that one, young and dirty gathered, its
   * page kept (a block maps an aligned 16). False, with nothing done, for
   * a block that is not so.
   */
  private unfoldWords(w: Uint32Array, at: number, slot: number, from: number): boolean {
    const pfn = pfnOfWords(w[at]!, w[at + 1]!);
    if (pfn % CONT_PTES !== 0) return false;
    for (let i = 0, a = at; i < CONT_PTES; i++, a += 2) if (!this.validContWords.of(w[a]!, w[a + 1]!) || pfnOfWords(w[a]!, w[a + 1]!) !== pfn + i) return false;
    const g = this.gather(slot, CONT_PTES, false);
    const lo = w[at + 2 * from]!;
    const hi = w[at + 2 * from + 1]!;
    const key = attrsOf(lo, hi) * 4 + (g.dirty ? 2 : 0) + (g.young ? 1 : 0);
    let c = this.unfolded.get(key);
    if (c === undefined) {
      const pte = joinWords(lo, hi);
      this.unfolded.set(key, (c = changedTo(pte, this.withGathered(this.pg.pteMknoncont(pte), g))));
    }
    for (let i = 0, a = at; i < CONT_PTES; i++, a += 2) applyChanged(w, a, c);
    return true;
  }

  /**
   * contpte_try_fold() of a block's last entry, from the block's first word
   * and slot (`alike`: its entries are known to share their attributes).
   * Where the 16 entries share their attributes and map an
   * aligned 16 pages (as a bulk change leaves them), the fold's outcome is
   * one change kept per attribute pattern, on the table's words; any other
   * block takes the full path.
   */
  private tryFoldWords(w: Uint32Array, at: number, slot: number, alike: boolean): void {
    const lo = w[at]!;
    const hi = w[at + 1]!;
    const pfn = pfnOfWords(lo, hi);
    // __contpte_try_fold()'s folio test, which the attributes cannot answer: the last page's folio holds the first too
    if (this.folios.nrPagesAt(pfn + CONT_PTES - 1) < CONT_PTES) return;
    const folio = this.folios.folioAt(pfn + CONT_PTES - 1);
    if (folio === null || this.folios.folioAt(pfn)?.pfnNr !== folio.pfnNr) return;
    const attrs = attrsOf(lo, hi);
    let fold = pfn % CONT_PTES === 0;
    for (let i = 1, a = at + 2; fold && i < CONT_PTES; i++, a += 2) fold = (alike || attrsOf(w[a]!, w[a + 1]!) === attrs) && pfnOfWords(w[a]!, w[a + 1]!) === pfn + i;
    const last = slot + BLOCK_BYTES - 8;
    if (!fold) return this.tryFold(last, this.mem.read(last));
    const c = this.folded.of(lo, hi);
    if (c === null) return;
    for (let i = 0, a = at; i < CONT_PTES; i++, a += 2) applyChanged(w, a, c);
  }

  /** modify_prot_start_ptes() (arch/arm64/mm/mmu.c) */
  modifyProtStartPtes(slot: number, nr: number): Pte {
    return this.getAndClearFullPtes(slot, nr);
  }

  /** modify_prot_commit_ptes() */
  modifyProtCommitPtes(slot: number, pte: Pte, nr: number): void {
    this.setPtes(slot, pte, nr);
  }

  /** test_and_clear_young_ptes(): a contiguous block is made old whole */
  testAndClearYoungPtes(slot: number, nr: number): boolean {
    if (nr === 1 && (this.mem.read(slot) & PTE_CONT) === 0n) return this.testAndClearYoung(slot);
    const [start, end] = this.alignRange(slot, nr);
    let young = false;
    for (let s = start; s !== end; s += 8) young = this.testAndClearYoung(s) || young;
    return young;
  }

  // __ptep_test_and_clear_young()
  private testAndClearYoung(slot: number): boolean {
    const [young, next] = this.pg.ptepTestAndClearYoung(this.mem.read(slot));
    if (young) this.mem.write(slot, next);
    return young;
  }

  /** ptep_set_access_flags(): whether it changed anything */
  ptepSetAccessFlags(slot: number, entry: Pte): boolean {
    const pg = this.pg;
    const orig = this.mem.read(slot);
    entry = pg.pteMknoncont(entry);
    if (!this.validCont(orig)) return this.setAccessFlags(slot, entry);
    // contpte_ptep_set_access_flags()
    if (this.allSubptesMatchAccessFlags(slot, entry)) return false;
    if (pg.pteWrite(orig) === pg.pteWrite(entry)) {
      // every pte of the block, so software access management takes no extra faults
      const start = alignDown(slot);
      for (let i = 0; i < CONT_PTES; i++) this.setAccessFlags(start + i * 8, entry);
    } else {
      this.tryUnfold(slot, orig);
      this.setAccessFlags(slot, entry);
    }
    return true;
  }

  // __ptep_set_access_flags()
  private setAccessFlags(slot: number, entry: Pte): boolean {
    const old = this.mem.read(slot);
    if (this.pg.pteSame(old, entry)) return false;
    this.mem.write(slot, this.pg.ptepSetAccessFlags(old, entry));
    return true;
  }

  // contpte_all_subptes_match_access_flags(): PTE_RDONLY, PTE_AF, PTE_WRITE and PTE_DIRTY alike
  private allSubptesMatchAccessFlags(slot: number, entry: Pte): boolean {
    const pg = this.pg;
    const key = (p: Pte) => `${pg.pteRdonly(p)}${pg.pteYoung(p)}${pg.pteWrite(p)}${pg.pteSwDirty(p)}`;
    const want = key(entry);
    const start = alignDown(slot);
    for (let i = 0; i < CONT_PTES; i++) if (key(this.mem.read(start + i * 8)) !== want) return false;
    return true;
  }

  /** clear_young_dirty_ptes(): over whole blocks where the range ends in contiguous ones */
  clearYoungDirtyPtes(slot: number, nr: number, flags: Cydp): void {
    const pg = this.pg;
    const [start, end] = nr === 1 && (this.mem.read(slot) & PTE_CONT) === 0n ? [slot, slot + 8] : this.alignRange(slot, nr);
    for (let s = start; s !== end; s += 8) {
      let pte = this.mem.read(s);
      if (flags.young) pte = pg.pteMkold(pte);
      if (flags.dirty) pte = pg.pteMkclean(pte);
      this.mem.write(s, pte);
    }
  }

  /** pte_batch_hint() of the entry at word `at` of its table's words, at slot */
  batchHintWords(w: Uint32Array, at: number, slot: number): number {
    return this.validContWords.of(w[at]!, w[at + 1]!) ? CONT_PTES - indexInBlock(slot) : 1;
  }

  /** pte_batch_hint(): how many ptes to the end of a contiguous block */
  pteBatchHint(slot: number, pte: Pte): number {
    return this.validCont(pte) ? CONT_PTES - indexInBlock(slot) : 1;
  }
}
