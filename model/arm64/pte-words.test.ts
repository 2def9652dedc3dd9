// The bulk paths' word-level answers against the bigint helpers they
// remember: asked first about one entry, then about another with the same
// attributes and a different page, a question or change must give what the
// helper gives for the second entry, on every layout and kernel.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ContPte } from './contpte.ts';
import { PTE_ADDR_MASK } from './hwdef.ts';
import { BUILTIN_LAYOUTS } from './layout.ts';
import { pgtable, type Pte } from './pgtable.ts';
import { protectionMap } from './prot.ts';
import { AttrChange, AttrQuestion, attrsOf, joinWords, pfnOfWords, setPtesWords } from './pte-words.ts';
import { arbEntries, arbPte, expectKeptPerPattern, hi, lo, withPage } from './pte-words.testing.ts';
import { KERNELS } from '../kernel.ts';

test('__set_ptes() on words: the page advances, carrying into the high word', () => {
  fc.assert(
    fc.property(arbPte, fc.integer({ min: 1, max: 16 }), (p, nr) => {
      fc.pre(p + BigInt(nr) * 4096n < 1n << 64n);
      const w = new Uint32Array(2 * nr);
      setPtesWords(w, 0, p, nr);
      for (let i = 0; i < nr; i++) expect(joinWords(w[2 * i]!, w[2 * i + 1]!)).toBe(p + BigInt(i) * 4096n);
    }),
  );
});

test('the words and their fields', () => {
  fc.assert(
    fc.property(arbPte, (p) => {
      expect(joinWords(lo(p), hi(p))).toBe(p);
      expect(pfnOfWords(lo(p), hi(p))).toBe(Number((p & PTE_ADDR_MASK) >> 12n));
      expect(attrsOf(lo(p), hi(p))).toBe(attrsOf(lo(withPage(p, 0n)), hi(withPage(p, 0n))));
    }),
  );
});

for (const layout of BUILTIN_LAYOUTS.values()) {
  for (const [kernel, behaviour] of Object.entries(KERNELS)) {
    describe(`${layout.name} @${kernel}`, () => {
      const pg = pgtable(layout, { kernel: behaviour });
      const arch = new ContPte({ read: () => 0n, write: () => {}, pteTableWords: () => new Uint32Array(1024) }, pg, { folioAt: () => null, nrPagesAt: () => 0 });
      const prots = protectionMap(layout, { epan: true });
      const questions: [string, () => AttrQuestion, (p: Pte) => boolean][] = [
        ['present and not contiguous', () => arch.plain, (p) => pg.ptePresent(p) && (p & (1n << 52n)) === 0n],
        ['present, not contiguous, not special', () => new AttrQuestion((p) => pg.ptePresent(p) && (p & (1n << 52n)) === 0n && !pg.pteSpecial(p)), (p) => pg.ptePresent(p) && (p & (1n << 52n)) === 0n && !pg.pteSpecial(p)],
        ['pte_dirty()', () => new AttrQuestion((p) => pg.pteDirty(p)), (p) => pg.pteDirty(p)],
        ['pte_valid()', () => new AttrQuestion((p) => pg.pteValid(p)), (p) => pg.pteValid(p)],
        ['pte_young()', () => new AttrQuestion((p) => pg.pteYoung(p)), (p) => pg.pteYoung(p)],
        ['present with uffd-wp', () => new AttrQuestion((p) => pg.ptePresent(p) && pg.pteUffdWp(p)), (p) => pg.ptePresent(p) && pg.pteUffdWp(p)],
      ];
      // each as set_ptes() commits it (modifyProtWords()), or as it is (contpte's own)
      const committed = (f: (p: Pte) => Pte): [(p: Pte) => Pte, () => AttrChange] => [(p) => pg.pteMknoncont(f(p)), () => arch.protChange(f)];
      const changes: [string, (p: Pte) => Pte, () => AttrChange][] = [
        ['pte_mkuffd_wp()', ...committed((p) => pg.pteMkuffdWp(p))],
        ['pte_clear_uffd_wp()', ...committed((p) => pg.pteClearUffdWp(p))],
        ['pte_clear_soft_dirty(pte_wrprotect())', ...committed((p) => pg.pteClearSoftDirty(pg.pteWrprotect(p)))],
        ...prots.map((prot, i): [string, (p: Pte) => Pte, () => AttrChange] => [`pte_modify(protection_map[${i}])`, ...committed((p) => pg.pteModify(p, prot))]),
        ['pte_mkold(pte_mkclean())', (p) => pg.pteMkold(pg.pteMkclean(p)), () => new AttrChange((p) => pg.pteMkold(pg.pteMkclean(p)))],
      ];

      test.each(questions)('%s: remembered per attribute pattern, whatever the page', (_, make, ask) => {
        fc.assert(
          fc.property(arbEntries, (entries) => {
            const q = make();
            // asked of any entry: presence is one of the attributes
            for (const p of entries) expect(q.of(lo(p), hi(p))).toBe(ask(p));
          }),
          { numRuns: 200 },
        );
      });

      test.each(changes)('%s: remembered per attribute pattern, whatever the page', (_, f, make) => {
        expectKeptPerPattern(make, f, (p) => pg.ptePresent(p));
      });
    });
  }
}
