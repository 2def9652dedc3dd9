// Small constructors for invariants, so each check reads as one line of the
// kernel's WARN_ON() list.

import fc from 'fast-check';
import type { Pgtable } from '../../model/arm64/pgtable.ts';
import type { Built } from './arbitraries.ts';
import type { Invariant, InvariantCtx } from './invariant.ts';

export type Gate = (pg: Pgtable) => string | null;
export const always: Gate = () => null;
/** pgtable_supports_soft_dirty(): the kernel skips soft-dirty checks without it. */
export const needsSoftDirty: Gate = (pg) => (pg.hasSoftDirty ? null : 'pgtable_supports_soft_dirty() is false: the layout has no soft-dirty bit');
export const needsUffdWp: Gate = (pg) => (pg.hasUffdWp ? null : 'no HAVE_ARCH_USERFAULTFD_WP: the layout has no uffd-wp bit');

export interface CheckSpec<T> {
  readonly source: string;
  readonly name: string;
  readonly skip?: Gate;
  readonly arb: (ctx: InvariantCtx) => fc.Arbitrary<Built<T>>;
  /** true when the invariant holds for x */
  readonly holds: (pg: Pgtable, x: T, ctx: InvariantCtx) => boolean;
  readonly mutant: (pg: Pgtable) => Pgtable;
  readonly mutantLayout?: string;
  /** why the reference model's helpers satisfy it whatever the entry (as the kernel's do): it is kept for plugged-in models */
  readonly byConstruction?: string;
}

export function check<T>(spec: CheckSpec<T>): Invariant {
  return {
    name: spec.name,
    source: spec.source,
    skip: spec.skip ?? always,
    mutantLayout: spec.mutantLayout ?? 'v6.10',
    mutant: spec.mutant,
    ...(spec.byConstruction ? { byConstruction: spec.byConstruction } : {}),
    property: (ctx) => fc.property(spec.arb(ctx) as fc.Arbitrary<unknown>, (x) => spec.holds(ctx.pg, (x as Built<T>).value, ctx)),
  };
}

/** A kernel WARN_ON(cond): the invariant is that cond never fires. */
export function warnOn<T>(spec: Omit<CheckSpec<T>, 'name' | 'holds'> & { cond: string; fires: CheckSpec<T>['holds'] }): Invariant {
  const { cond, fires, ...rest } = spec;
  return check({ ...rest, name: `WARN_ON(${cond})`, holds: (pg, x, ctx) => !fires(pg, x, ctx) });
}

/** The same helpers with some replaced: the deliberately wrong ones. */
export function withHelpers(pg: Pgtable, wrong: Partial<Pgtable>): Pgtable {
  return { ...pg, ...wrong };
}
