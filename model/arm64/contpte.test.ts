// contpte's block operation on a table's words (modifyProtBlockWords())
// against the path it stands for: modify_prot_start_ptes() and
// _commit_ptes() of each of the block's 16 entries in turn, through the
// helpers. The same table must come out, for contiguous blocks with young
// and dirty bits scattered over them, for blocks of plain entries alike or
// not, on every layout and kernel, whatever folio the pages belong to.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { KERNELS } from '../kernel.ts';
import { CONT_PTES, ContPte } from './contpte.ts';
import { PTE_AF, PTE_CONT, PTE_RDONLY, PTE_VALID } from './hwdef.ts';
import { BUILTIN_LAYOUTS } from './layout.ts';
import { pgtable, type Pte } from './pgtable.ts';
import { protectionMap } from './prot.ts';
import { joinWords } from './pte-words.ts';
import { arbPte, withPage } from './pte-words.testing.ts';

/** One pte table at physical address 0, as its words. */
function table() {
  const w = new Uint32Array(1024);
  return {
    w,
    mem: {
      read: (slot: number) => joinWords(w[slot / 4]!, w[slot / 4 + 1]!),
      write: (slot: number, v: bigint) => {
        w[slot / 4] = Number(v & 0xffff_ffffn);
        w[slot / 4 + 1] = Number(v >> 32n);
      },
      pteTableWords: () => w,
    },
  };
}

// the bits hardware and the helpers scatter over a block's entries: access flag, DBM's dirty, the software dirty bit
const arbTweaks = fc.array(fc.constantFrom(0n, PTE_AF, PTE_RDONLY, 1n << 55n, PTE_AF | PTE_RDONLY), { minLength: CONT_PTES, maxLength: CONT_PTES });

for (const layout of BUILTIN_LAYOUTS.values()) {
  for (const [kernel, behaviour] of Object.entries(KERNELS)) {
    describe(`${layout.name} @${kernel}`, () => {
      const pg = pgtable(layout, { kernel: behaviour });
      const prots = protectionMap(layout, { epan: true });
      const changes: ((p: Pte) => Pte)[] = [
        (p) => pg.pteMkuffdWp(p),
        (p) => pg.pteClearUffdWp(p),
        (p) => pg.pteClearSoftDirty(pg.pteWrprotect(p)),
        ...prots.map((prot) => (p: Pte) => pg.pteModify(p, prot)),
      ];
      // a block: contiguous; plain entries alike (the fold's case); alike but for one entry's page; or anything
      const arbBlock = fc.record({
        kind: fc.constantFrom('contiguous', 'alike', 'gap', 'mixed'),
        // its own attributes, or the ones the blocks before share
        base: fc.option(fc.oneof(arbPte, fc.constantFrom(...prots)), { freq: 1 }),
        pfn: fc.bigInt({ min: 1n << 10n, max: 1n << 20n }),
        tweaks: arbTweaks,
        // mixed: misaligned pages, bits scattered, and an entry unlike the rest (its index and attributes)
        misaligned: fc.boolean(),
        odd: fc.tuple(fc.nat(CONT_PTES - 1), arbPte),
        // the folio's size, and where it starts against the block's first page
        folio: fc.option(fc.tuple(fc.constantFrom(1, 16, 32, 512), fc.oneof(fc.constantFrom(0, 1, 15, -1, -16, -496), fc.integer({ min: -520, max: 15 }))), { freq: 4 }),
      });
      test('modifyProtBlockWords(): the table entry by entry through the helpers leaves', () => {
        fc.assert(
          // blocks in one table, changed one after the other: what one remembers must hold for the next
          fc.property(fc.array(arbBlock, { minLength: 1, maxLength: 6 }), fc.oneof(arbPte, fc.constantFrom(...prots)), fc.nat(changes.length - 1), (blocks, shared, change) => {
            // folios never overlap (a page is in one folio): a block's is dropped where it would overlap an earlier one
            const folioList: { pfn: bigint; pfnNr: number; nrPages: number }[] = [];
            const disjoint = (f: { pfn: bigint; nrPages: number }) =>
              folioList.every((g) => f.pfn + BigInt(f.nrPages) <= g.pfn || g.pfn + BigInt(g.nrPages) <= f.pfn);
            const placed = blocks.map((b, k) => {
              const pfn = b.kind === 'mixed' && b.misaligned ? b.pfn : b.pfn & ~15n;
              const wanted = b.folio && { pfn: pfn + BigInt(b.folio[1]), pfnNr: Number(pfn) + b.folio[1], nrPages: b.folio[0] };
              const folio = wanted && disjoint(wanted) ? wanted : null;
              if (folio) folioList.push(folio);
              return { ...b, pfn, folio, first: withPage((b.base ?? shared) | PTE_VALID, pfn), slot: CONT_PTES * 8 * (2 * k + 1) };
            });
            const folioAt = (p: number) => placed.find((b) => b.folio && BigInt(p) >= b.folio.pfn && BigInt(p) < b.folio.pfn + BigInt(b.folio.nrPages))?.folio ?? null;
            const folios = { folioAt, nrPagesAt: (p: number) => folioAt(p)?.nrPages ?? 0 };
            const sides = [table(), table()].map((t) => ({ ...t, arch: new ContPte(t.mem, pg, folios) }));
            for (const { mem, arch } of sides) {
              for (const b of placed) {
                if (b.kind === 'contiguous') arch.setPtes(b.slot, b.first, CONT_PTES);
                for (let i = 0; i < CONT_PTES; i++) {
                  const s = b.slot + 8 * i;
                  const page = b.pfn + BigInt(i);
                  // the first entry of a contiguous block as written: blocks alike in it differ in what their others gather
                  if (b.kind === 'contiguous') mem.write(s, mem.read(s) ^ (i ? b.tweaks[i]! : 0n));
                  else if (b.kind === 'mixed') mem.write(s, withPage(b.odd[0] === i ? b.odd[1] : b.first & ~PTE_CONT, page) ^ b.tweaks[i]!);
                  else mem.write(s, withPage(b.first & ~PTE_CONT, b.kind === 'gap' && i === b.odd[0] ? page + 1n : page));
                }
              }
            }
            const f = changes[change]!;
            const fullPath = (arch: ContPte, s: number) => {
              if (pg.ptePresent(arch.ptepGet(s))) arch.modifyProtCommitPtes(s, f(arch.modifyProtStartPtes(s, 1)), 1);
            };
            const [words, helpers] = sides as [(typeof sides)[0], (typeof sides)[0]];
            const wordChange = words.arch.protChange(f);
            for (const b of placed) {
              if (!words.arch.modifyProtBlockWords(words.w, b.slot / 4, b.slot, wordChange)) for (let i = 0; i < CONT_PTES; i++) fullPath(words.arch, b.slot + 8 * i);
              for (let i = 0; i < CONT_PTES; i++) fullPath(helpers.arch, b.slot + 8 * i);
            }
            expect([...words.w]).toEqual([...helpers.w]);
          }),
          { numRuns: 300 },
        );
      });
      test('contpte_try_unfold() from any entry of a contiguous block: contpte_convert() through the helpers', () => {
        fc.assert(
          fc.property(fc.oneof(arbPte, fc.constantFrom(...prots)), fc.bigInt({ min: 1n << 10n, max: 1n << 20n }), arbTweaks, fc.nat(CONT_PTES - 1), (base, page, tweaks, k) => {
            const { w, mem } = table();
            const arch = new ContPte(mem, pg, { folioAt: () => null, nrPagesAt: () => 0 });
            const slot = CONT_PTES * 8 * 5;
            const pfn = page & ~15n;
            arch.setPtes(slot, withPage(base | PTE_VALID, pfn), CONT_PTES);
            for (let i = 0; i < CONT_PTES; i++) mem.write(slot + 8 * i, mem.read(slot + 8 * i) ^ tweaks[i]!);
            const block = Array.from({ length: CONT_PTES }, (_, i) => mem.read(slot + 8 * i));
            // contpte_convert(): the entry unfolded from, its page aligned down, the block's young and dirty gathered into each
            let pte = withPage(pg.pteMknoncont(block[k]!), pfn);
            if (block.some((p) => pg.pteDirty(p))) pte = pg.__pteMkdirty(pte);
            if (block.some((p) => pg.pteYoung(p))) pte = pg.pteMkyoung(pte);
            const expected = block.map((_, i) => (i === k ? 0n : pte + BigInt(i) * 4096n));
            if (!block.every((p) => pg.pteValid(p) && (p & PTE_CONT) !== 0n)) return; // not a block to unfold
            arch.pteClear(slot + 8 * k);
            expect(Array.from({ length: CONT_PTES }, (_, i) => joinWords(w[(slot + 8 * i) / 4]!, w[(slot + 8 * i) / 4 + 1]!))).toEqual(expected);
          }),
          { numRuns: 300 },
        );
      });
    });
  }
}
