// Each invariant must be able to fail: handed its deliberately wrong helper,
// it must find a counterexample.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { builtinLayout } from '../../model/arm64/layout.ts';
import { pgtable } from '../../model/arm64/pgtable.ts';
import { protectionMap } from '../../model/arm64/prot.ts';
import { KERNELS } from '../../model/kernel.ts';
import { INVARIANTS } from './catalogue.ts';
import { MAX_SWAPFILES, swpEntry, swpOffset, swpType } from '../../model/arm64/swapops.ts';

/**
 * The search for a wrong helper's counterexample: some show only in states
 * the generators reach rarely (a hardware-dirty entry takes a write-enabling
 * op, then a hardware store: about 1 sample in 100, so 200 runs missed it
 * about once in six). The search stops at the first counterexample, so a
 * large budget costs nothing for a mutant that is caught.
 */
const MUTANT_RUNS = 5000;

for (const inv of INVARIANTS) {
  test(`catches a wrong helper: ${inv.source}: ${inv.name}`, () => {
    const layout = builtinLayout(inv.mutantLayout);
    const pg = Object.values(KERNELS).map((kernel) => pgtable(layout, { kernel })).find((p) => inv.skip(p) === null);
    if (!pg) throw new Error(`no kernel on ${inv.mutantLayout} where the check applies`);
    const ctx = { pg, prots: protectionMap(layout, { epan: true }) };
    expect(fc.check(inv.property(ctx)).failed, 'the correct helpers satisfy it').toBe(false);
    const run = fc.check(inv.property({ ...ctx, pg: inv.mutant(pg) }), { numRuns: MUTANT_RUNS });
    expect(run.failed, 'the wrong helper is caught').toBe(true);
  });
}

// issue 13's audit: with offsets drawn only as far as the helpers under test keep them, a
// swp_entry_to_pte() that keeps 20 bits of the offset passed every invariant
test('a swap encoding that truncates offsets to 20 bits is caught', () => {
  const layout = builtinLayout('v6.10');
  const pg = pgtable(layout, { kernel: KERNELS['7.2']! });
  const low20 = (1n << 20n) - 1n;
  const truncating: typeof pg = {
    ...pg,
    // swap slots only: migration entries and markers keep their offsets
    swpEntryToPte: (e) => pg.swpEntryToPte(swpType(e) < MAX_SWAPFILES ? swpEntry(swpType(e), swpOffset(e) & low20) : e),
  };
  const ctx = { pg: truncating, prots: protectionMap(layout, { epan: true }) };
  const caught = INVARIANTS.filter((inv) => inv.skip(truncating) === null && fc.check(inv.property(ctx)).failed).map((inv) => inv.name);
  expect(caught.length).toBeGreaterThan(0);
});
