// folio_pte_batch_flags() on a pte table's words against the kernel's own
// loop through the helpers (ptep_get(), __pte_batch_clear_ignored(),
// pte_same(), pte_batch_hint()): the same batch, from any pte of a THP
// split into contiguous blocks whose entries then took scattered young,
// dirty, soft-dirty, write and uffd-wp bits, on every layout.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BUILTIN_LAYOUTS } from '../arm64/layout.ts';
import type { Pte } from '../arm64/pgtable.ts';
import { kernelByName } from '../kernel.ts';
import * as U from '../../uapi/linux.ts';
import { isErr } from '../../uapi/linux.ts';
import { splitHugePmd } from './huge-memory.ts';
import { type Fpb, folioPteBatch } from './internal.ts';
import { doMadvise } from './madvise.ts';
import type { Mm } from './mm.ts';
import { doMmap } from './mmap.ts';
import { System } from './system.ts';
import { Task } from './task.ts';

const HPAGE = 2n << 20n;

/** the batch as the kernel's loop finds it, through the helpers */
function helperBatch(mm: Mm, slot: number, maxNr: number, flags: Fpb): number {
  const pg = mm.pg;
  const pte = mm.arch.ptepGet(slot);
  const folio = mm.vmNormalFolio(pte);
  if (folio === null || folio.nrPages === 1) return 1;
  maxNr = Math.min(maxNr, Number(folio.pfn + BigInt(folio.nrPages) - pg.ptePfn(pte)));
  const ignore = (p: Pte) => {
    p = pg.pteMkclean(p);
    if (!flags.respectSoftDirty) p = pg.pteClearSoftDirty(p);
    if (!flags.respectWrite) p = pg.pteWrprotect(p);
    return pg.pteMkold(p);
  };
  let nr = mm.arch.pteBatchHint(slot, pte);
  let expected = ignore(pte) + BigInt(nr) * 4096n;
  while (nr < maxNr) {
    const next = mm.arch.ptepGet(slot + nr * 8);
    if (!pg.pteSame(ignore(next), expected)) break;
    const n = mm.arch.pteBatchHint(slot + nr * 8, next);
    expected += BigInt(n) * 4096n;
    nr += n;
  }
  return Math.min(nr, maxNr);
}

for (const layout of BUILTIN_LAYOUTS.values()) {
  describe(`${layout.name}`, () => {
    test('folioPteBatch() on words finds the batch the helpers find', () => {
      const sys = new System({ layout, kernel: kernelByName('7.2'), hw: { hwAF: true, hwDBM: true }, epan: true, thp: { enabled: 'always', useZeroPage: true }, showPfn: true, swapBytes: 0n, hugetlbPages: 0 });
      const mm = new Task(sys).mm;
      const raw = doMmap(mm, 0n, 2n * HPAGE, U.PROT_READ | U.PROT_WRITE, U.MAP_PRIVATE | U.MAP_ANONYMOUS, null, 0n);
      if (isErr(raw)) throw new Error(String(raw));
      const addr = (raw + HPAGE - 1n) & ~(HPAGE - 1n);
      expect(doMadvise(mm, addr, HPAGE, U.MADV_POPULATE_WRITE)).toBe(0);
      splitHugePmd(mm, addr);
      const first = mm.pt.pteSlot(addr, false)!;
      // AF, RDONLY, the software dirty bit, DBM, uffd-wp, the soft-dirty bits of the layouts, and a page bit
      const bits = [1n << 10n, 1n << 7n, 1n << 55n, 1n << 51n, 1n << 58n, 1n << 63n, 1n << 56n, 1n << 13n];
      fc.assert(
        fc.property(
          // entries given a bit flipped (bits the helpers ignore or respect), then a batch asked for from one of them
          fc.array(fc.tuple(fc.nat(511), fc.constantFrom(...bits)), { maxLength: 12 }),
          fc.nat(511),
          fc.integer({ min: 1, max: 512 }),
          fc.record({ respectSoftDirty: fc.boolean(), respectWrite: fc.boolean() }),
          (flips, from, maxNr, flags) => {
            const saved = Array.from({ length: 512 }, (_, i) => mm.pt.read(first + 8 * i));
            for (const [i, bit] of flips) mm.pt.write(first + 8 * i, mm.pt.read(first + 8 * i) ^ bit);
            const slot = first + 8 * from;
            const max = Math.min(maxNr, 512 - from);
            const folio = mm.vmNormalFolio(mm.arch.ptepGet(slot));
            if (mm.pg.ptePresent(mm.arch.ptepGet(slot))) expect(folioPteBatch(mm, folio, slot, mm.arch.ptepGet(slot), max, flags)).toBe(helperBatch(mm, slot, max, flags));
            saved.forEach((v, i) => mm.pt.write(first + 8 * i, v));
          },
        ),
        { numRuns: 200 },
      );
    });
  });
}
