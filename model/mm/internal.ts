// Helpers mm/internal.h gives the rest of mm: the pte batches of a large
// folio that zap, mprotect, mremap and madvise step over in one go.

import { PTE_CONT } from '../arm64/hwdef.ts';
import type { Pte } from '../arm64/pgtable.ts';
import { AttrChange, AttrQuestion, pfnOfWords, wordAt } from '../arm64/pte-words.ts';
import type { Mm } from './mm.ts';
import type { Folio } from './physmem.ts';

/** fpb_t: what a batch must agree on besides the pfns (never the dirty bits here: no caller respects them) */
export interface Fpb {
  respectSoftDirty?: boolean;
  respectWrite?: boolean;
}

// __pte_batch_clear_ignored() for each fpb_t, kept per attribute pattern: [soft-dirty respected?][write respected?]
const makeIgnored = (mm: Mm): AttrChange[] =>
  [false, true].flatMap((respectSoftDirty) =>
    [false, true].map(
      (respectWrite) =>
        new AttrChange((pte) => {
          const pg = mm.pg;
          pte = pg.pteMkclean(pte);
          if (!respectSoftDirty) pte = pg.pteClearSoftDirty(pte);
          if (!respectWrite) pte = pg.pteWrprotect(pte);
          return pg.pteMkold(pte);
        }),
    ),
  );

/**
 * folio_pte_batch_flags(): how many ptes from slot (the first, pte, read
 * with ptep_get()) map consecutive pages of folio alike, at most maxNr;
 * 1 for a small folio or none. On the table's words: what ptep_get() adds
 * to a contiguous entry (its block's young and dirty bits) is what
 * __pte_batch_clear_ignored() takes away, so the raw entries compare alike.
 */
export function folioPteBatch(mm: Mm, folio: Folio | null, slot: number, pte: Pte, maxNr: number, flags: Fpb = {}): number {
  if (folio === null || folio.nrPages === 1) return 1;
  const left = Number(folio.pfn + BigInt(folio.nrPages) - mm.pg.ptePfn(pte));
  if (left < maxNr) maxNr = left;
  const ignored = keptFor(mm, makeIgnored)[(flags.respectSoftDirty ? 2 : 0) + (flags.respectWrite ? 1 : 0)]!;
  const w = mm.pt.mem.pteTableWords(slot);
  const at = wordAt(slot);
  const want = ignored.attrsAfter(w[at]!, w[at + 1]!);
  const pfn = pfnOfWords(w[at]!, w[at + 1]!);
  let nr = mm.arch.batchHintWords(w, at, slot);
  while (nr < maxNr) {
    const a = at + 2 * nr;
    if (ignored.attrsAfter(w[a]!, w[a + 1]!) !== want || pfnOfWords(w[a]!, w[a + 1]!) !== pfn + nr) break;
    nr += mm.arch.batchHintWords(w, a, slot + 8 * nr);
  }
  return nr < maxNr ? nr : maxNr;
}

const kept = new WeakMap<Mm['arch'], Map<(mm: Mm) => unknown, unknown>>();

/**
 * What `make` makes for an mm, made once per mm (its pte API): the bulk
 * paths' word-level questions and changes (arm64/pte-words.ts), which
 * remember their answers across calls.
 */
export function keptFor<T>(mm: Mm, make: (mm: Mm) => T): T {
  // hot paths ask per page, nearly always of the mm asked about last: its map at hand, no WeakMap lookup
  let forArch = mm.arch === lastArch ? lastKept : kept.get(mm.arch);
  if (forArch === undefined) kept.set(mm.arch, (forArch = new Map()));
  lastArch = mm.arch;
  lastKept = forArch;
  let value = forArch.get(make);
  if (value === undefined) forArch.set(make, (value = make(mm)));
  return value as T;
}
let lastArch: Mm['arch'] | undefined;
let lastKept: Map<(mm: Mm) => unknown, unknown> | undefined;

/** present, not contiguous (its ptep_get() is itself) and not special: vm_normal_folio() finds its folio by its pfn */
export const isNormalPlainPresent = (mm: Mm, p: Pte): boolean => mm.pg.ptePresent(p) && (p & PTE_CONT) === 0n && !mm.pg.pteSpecial(p);

const makeNormalPlain = (mm: Mm) => new AttrQuestion((p) => isNormalPlainPresent(mm, p));

/**
 * For bulk paths on a table's words (arm64/pte-words.ts): is the entry
 * present, not contiguous (its ptep_get() is itself) and not special, so
 * that vm_normal_folio() finds its folio by its pfn?
 */
export function normalPlainPresent(mm: Mm): AttrQuestion {
  return keptFor(mm, makeNormalPlain);
}
