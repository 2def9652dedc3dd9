// Bug A2 of ../shared/reference/bugs.md (`sd-mprotect`, fixed in v6.0 by
// 76aefad628aa) as a variant of the reference: the soft-dirty check before
// mprotect() upgrades a pte to writable has the opposite sense, so after
// clear_refs a PROT_READ -> PROT_READ|PROT_WRITE round trip leaves the
// pte writable and the next write is never seen as soft-dirty.
//
//   npx mmconform run --target module:examples/variants/sd-mprotect.ts --suite soft-dirty
//
// soft-dirty.c's "Test test_mprotect-anon soft-dirty after rewritten" and
// the regression named after the bug (suites/regressions) fail on it; every
// other result is the reference's. (The shared-file case stays
// right: a pte clear_refs cleaned is not dirty, and a shared area upgrades
// only dirty ptes.)

import type { Variant } from '../../harness/plugin.ts';
import { VM_SOFTDIRTY } from '../../model/mm/vma.ts';

export default {
  name: 'sd-mprotect',
  base: 'reference:rfc',
  mm: {
    // pte_needs_soft_dirty_wp() as the buggy can_change_pte_writable() had it: VM_SOFTDIRTY set means tracking is off
    pteNeedsSoftDirtyWp: (_original, mm) => (vma, pte) => (vma.flags & VM_SOFTDIRTY) !== 0 && !mm.pg.pteSoftDirty(pte),
  },
} satisfies Variant;
