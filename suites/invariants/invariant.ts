// An invariant is a property of a model's page-table helpers that must hold
// for every descriptor its generator draws, plus a deliberately wrong helper
// that shows the property can fail.

import type fc from 'fast-check';
import type { Pgtable } from '../../model/arm64/pgtable.ts';

export interface InvariantCtx {
  readonly pg: Pgtable;
  /** protection_map[] of the target: vm_get_page_prot() for each vm_flags index */
  readonly prots: readonly bigint[];
}

export interface Invariant {
  /** The check as the kernel writes it, e.g. "WARN_ON(pte_dirty(pte_wrprotect(pte)))". */
  readonly name: string;
  /** Where it comes from: "debug_vm_pgtable.c: pte_basic_tests" or "arm64". */
  readonly source: string;
  /** null when the check applies; otherwise the reason the kernel itself would not run it. */
  skip(pg: Pgtable): string | null;
  property(ctx: InvariantCtx): fc.IProperty<[unknown]>;
  /** Helpers with one deliberate bug that this property must catch. */
  mutant(pg: Pgtable): Pgtable;
  /** The built-in layout the mutant is tried on (one where the check applies). */
  readonly mutantLayout: string;
  /**
   * Why the reference model satisfies it whatever the entry, as the kernel's
   * arm64 helpers do (pte_same() is equality, the swap-entry casts are
   * identities): it cannot fail on the reference, only on a plugged-in
   * model, so it is not counted as checking the reference.
   */
  readonly byConstruction?: string;
}
