// Helpers mm/internal.h gives the rest of mm: the pte batches of a large
// folio that zap, mprotect, mremap and madvise step over in one go.

import { PTE_CONT } from '../arm64/hwdef.ts';
import type { Pte } from '../arm64/pgtable.ts';
import { AttrQuestion } from '../arm64/pte-words.ts';
import type { Mm } from './mm.ts';
import type { Folio } from './physmem.ts';

/** fpb_t: what a batch must agree on besides the pfns */
export interface Fpb {
  respectDirty?: boolean;
  respectSoftDirty?: boolean;
  respectWrite?: boolean;
}

// __pte_batch_clear_ignored()
function clearIgnored(mm: Mm, pte: Pte, flags: Fpb): Pte {
  const pg = mm.pg;
  if (!flags.respectDirty) pte = pg.pteMkclean(pte);
  if (!flags.respectSoftDirty) pte = pg.pteClearSoftDirty(pte);
  if (!flags.respectWrite) pte = pg.pteWrprotect(pte);
  return pg.pteMkold(pte);
}

/**
 * folio_pte_batch_flags(): how many ptes from slot (the first, pte, read
 * with ptep_get()) map consecutive pages of folio alike, at most maxNr;
 * 1 for a small folio or none.
 */
export function folioPteBatch(mm: Mm, folio: Folio | null, slot: number, pte: Pte, maxNr: number, flags: Fpb = {}): number {
  if (folio === null || folio.nrPages === 1) return 1;
  const pg = mm.pg;
  const left = Number(folio.pfn + BigInt(folio.nrPages) - pg.ptePfn(pte));
  if (left < maxNr) maxNr = left;
  let nr = mm.arch.pteBatchHint(slot, pte);
  let expected = clearIgnored(mm, pte, flags) + BigInt(nr) * 4096n;
  while (nr < maxNr) {
    const s = slot + nr * 8;
    const next = mm.arch.ptepGet(s);
    if (!pg.pteSame(clearIgnored(mm, next, flags), expected)) break;
    const n = mm.arch.pteBatchHint(s, next);
    expected += BigInt(n) * 4096n;
    nr += n;
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
  let forArch = kept.get(mm.arch);
  if (forArch === undefined) kept.set(mm.arch, (forArch = new Map()));
  if (!forArch.has(make)) forArch.set(make, make(mm));
  return forArch.get(make) as T;
}

const makeNormalPlain = (mm: Mm) => new AttrQuestion((p) => mm.pg.ptePresent(p) && (p & PTE_CONT) === 0n && !mm.pg.pteSpecial(p));

/**
 * For bulk paths on a table's words (arm64/pte-words.ts): is the entry
 * present, not contiguous (its ptep_get() is itself) and not special, so
 * that vm_normal_folio() finds its folio by its pfn?
 */
export function normalPlainPresent(mm: Mm): AttrQuestion {
  return keptFor(mm, makeNormalPlain);
}
