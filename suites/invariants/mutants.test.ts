// Each invariant must be able to fail: handed its deliberately wrong helper,
// it must find a counterexample.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { builtinLayout } from '../../model/arm64/layout.ts';
import { pgtable } from '../../model/arm64/pgtable.ts';
import { protectionMap } from '../../model/arm64/prot.ts';
import { KERNELS } from '../../model/kernel.ts';
import { INVARIANTS } from './catalogue.ts';

for (const inv of INVARIANTS) {
  test(`catches a wrong helper: ${inv.source}: ${inv.name}`, () => {
    const layout = builtinLayout(inv.mutantLayout);
    const pg = Object.values(KERNELS).map((kernel) => pgtable(layout, { kernel })).find((p) => inv.skip(p) === null);
    if (!pg) throw new Error(`no kernel on ${inv.mutantLayout} where the check applies`);
    const ctx = { pg, prots: protectionMap(layout, { epan: true }) };
    expect(fc.check(inv.property(ctx)).failed, 'the correct helpers satisfy it').toBe(false);
    const run = fc.check(inv.property({ ...ctx, pg: inv.mutant(pg) }));
    expect(run.failed, 'the wrong helper is caught').toBe(true);
  });
}
