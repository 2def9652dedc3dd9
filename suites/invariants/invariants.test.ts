// Every invariant, on every built-in layout and kernel behaviour. A failure
// prints fast-check's counterexample (a C expression) and the seed to replay.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { BUILTIN_LAYOUTS } from '../../model/arm64/layout.ts';
import { layoutReport } from '../../model/arm64/layout-states.ts';
import { pgtable } from '../../model/arm64/pgtable.ts';
import { protectionMap } from '../../model/arm64/prot.ts';
import { KERNELS } from '../../model/kernel.ts';
import { INVARIANTS } from './catalogue.ts';

for (const layout of BUILTIN_LAYOUTS.values()) {
  for (const kernel of Object.values(KERNELS)) {
    describe(`${layout.name} on ${kernel.version}`, () => {
      const pg = pgtable(layout, { kernel });
      for (const epan of [true, false]) {
        const ctx = { pg, prots: protectionMap(layout, { epan }) };
        for (const inv of INVARIANTS) {
          const label = inv.byConstruction ? ` [by construction: ${inv.byConstruction}]` : '';
          test(`${inv.source}: ${inv.name}${epan ? '' : ' (no EPAN)'}${label}`, (t) => {
            const why = inv.skip(pg);
            if (why) t.skip(why);
            fc.assert(inv.property(ctx));
          });
        }
      }
    });
  }
}

test('the invariants that hold by construction on the reference are the four the kernel also cannot fail on arm64', () => {
  expect(INVARIANTS.filter((i) => i.byConstruction).map((i) => i.name)).toEqual([
    'WARN_ON(!pte_same(pte, pte))',
    'WARN_ON(!pmd_same(pmd, pmd))',
    'WARN_ON(memcmp(&pte1, &pte2) with pte2 = __swp_entry_to_pte(__pte_to_swp_entry(pte1)))',
    'WARN_ON(memcmp(&pmd1, &pmd2) with pmd2 = __swp_entry_to_pmd(__pmd_to_swp_entry(pmd1)))',
  ]);
});

describe('no two meanings share a bit in any entry state', () => {
  for (const layout of BUILTIN_LAYOUTS.values()) {
    test(layout.name, () => {
      expect(layoutReport(layout).collisions).toEqual([]);
    });
  }
});
