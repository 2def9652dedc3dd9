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
          test(`${inv.source}: ${inv.name}${epan ? '' : ' (no EPAN)'}`, (t) => {
            const why = inv.skip(pg);
            if (why) t.skip(why);
            fc.assert(inv.property(ctx));
          });
        }
      }
    });
  }
}

describe('no two meanings share a bit in any entry state', () => {
  for (const layout of BUILTIN_LAYOUTS.values()) {
    test(layout.name, () => {
      expect(layoutReport(layout).collisions).toEqual([]);
    });
  }
});
