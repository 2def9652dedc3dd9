// Descriptors drawn the way the kernel builds them, each printing as the C
// expression that built it, so a shrunk counterexample reads like a
// reproducer: pte_mkdirty(pte_wrprotect(pfn_pte(0x1f, vm_get_page_prot(0xb)))).

import fc from 'fast-check';
import type { Pgtable, Pte } from '../../model/arm64/pgtable.ts';
import * as swp from '../../model/arm64/swapops.ts';
import { PageTableMemory } from '../../model/arm64/tables.ts';
import { access, createRoot, mapPage } from '../../model/arm64/walk.ts';
import type { InvariantCtx } from './invariant.ts';

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** A value with the C expression that produced it. */
export interface Built<T> {
  readonly value: T;
  readonly expr: string;
}

function built<T>(value: T, expr: string): Built<T> {
  const shown = () => `${expr} = ${typeof value === 'bigint' ? hex(value) : String(value)}`;
  return Object.assign({ value, expr }, { [fc.toStringMethod]: shown });
}

/** PFNs of a 48-bit PA, as the hardware runs without LPA2 (the config allows 52: SWP_PFN_BITS). */
export const arbPfn = fc.bigInt({ min: 0n, max: (1n << 36n) - 1n });
/** vm_flags & (VM_READ|VM_WRITE|VM_EXEC|VM_SHARED): every protection debug_vm_pgtable loops over */
export const arbProtIdx = fc.integer({ min: 0, max: 15 });

/** pfn_pte(pfn, vm_get_page_prot(idx)): fresh, as pte_basic_tests() builds it. */
export function arbFreshPte(ctx: InvariantCtx): fc.Arbitrary<Built<Pte>> {
  return fc.tuple(arbPfn, arbProtIdx).map(([pfn, idx]) => freshPte(ctx, pfn, idx));
}

function freshPte(ctx: InvariantCtx, pfn: bigint, idx: number): Built<Pte> {
  return built(ctx.pg.pfnPte(pfn, protOf(ctx, idx)), `pfn_pte(${hex(pfn)}, vm_get_page_prot(${hex(idx)}))`);
}

/** pmd_mkhuge(pfn_pmd(pfn, prot)) for a 2 MiB-aligned pfn. */
export function arbFreshPmd(ctx: InvariantCtx, huge = true): fc.Arbitrary<Built<Pte>> {
  return fc.tuple(arbPfn, arbProtIdx).map(([pfn, idx]) => {
    const aligned = pfn & ~511n;
    const pmd = ctx.pg.pfnPte(aligned, protOf(ctx, idx));
    const expr = `pfn_pmd(${hex(aligned)}, vm_get_page_prot(${hex(idx)}))`;
    return huge ? built(ctx.pg.pmdMkhuge(pmd), `pmd_mkhuge(${expr})`) : built(pmd, expr);
  });
}

export function protOf(ctx: InvariantCtx, idx: number): bigint {
  const p = ctx.prots[idx];
  if (p === undefined) throw new Error(`no protection for vm_flags ${idx}`);
  return p;
}

/** The helpers that move a present entry between states, by kernel name. */
export type PteOp = { readonly name: string; readonly idx?: number };

const UNARY_OPS = [
  'pte_mkdirty',
  'pte_mkclean',
  'pte_mkyoung',
  'pte_mkold',
  'pte_wrprotect',
  'pte_mkwrite_novma',
  'pte_mkspecial',
  'pte_mkuffd_wp',
  'pte_clear_uffd_wp',
  'pte_mksoft_dirty',
  'pte_clear_soft_dirty',
  'hw_store',
] as const;

/** A user store through the entry with FEAT_HAFDBS: AF set, a writable-clean entry made dirty; nothing on a fault. */
function hardwareStore(p: Pte): Pte {
  const mem = new PageTableMemory();
  const root = createRoot(mem);
  mapPage(mem, root, 0n, p);
  const r = access(mem, root, 0n, 'write', { hwAF: true, hwDBM: true });
  return r.ok ? r.after : p;
}

export function applyOp(pg: Pgtable, ctx: InvariantCtx, op: PteOp, p: Pte): Pte {
  switch (op.name) {
    case 'pte_mkdirty': return pg.pteMkdirty(p);
    case 'pte_mkclean': return pg.pteMkclean(p);
    case 'pte_mkyoung': return pg.pteMkyoung(p);
    case 'pte_mkold': return pg.pteMkold(p);
    case 'pte_wrprotect': return pg.pteWrprotect(p);
    case 'pte_mkwrite_novma': return pg.pteMkwriteNovma(p);
    case 'pte_mkspecial': return pg.pteMkspecial(p);
    case 'pte_mkuffd_wp': return pg.pteMkuffdWp(p);
    case 'pte_clear_uffd_wp': return pg.pteClearUffdWp(p);
    case 'pte_mksoft_dirty': return pg.pteMksoftDirty(p);
    case 'pte_clear_soft_dirty': return pg.pteClearSoftDirty(p);
    case 'pte_modify': return pg.pteModify(p, protOf(ctx, op.idx ?? 0));
    case 'hw_store': return hardwareStore(p);
    default: throw new Error(`unknown op ${op.name}`);
  }
}

const arbOp: fc.Arbitrary<PteOp> = fc.oneof(
  { weight: 11, arbitrary: fc.constantFrom(...UNARY_OPS).map((name): PteOp => ({ name })) },
  { weight: 2, arbitrary: arbProtIdx.map((idx): PteOp => ({ name: 'pte_modify', idx })) },
);

export function opExpr(op: PteOp, inner: string): string {
  return op.name === 'pte_modify' ? `pte_modify(${inner}, vm_get_page_prot(${hex(op.idx ?? 0)}))` : `${op.name}(${inner})`;
}

/**
 * A present entry reachable from a fresh one through the kernel's helpers:
 * the states the fault, wrprotect, mprotect and uffd paths leave behind.
 */
export function arbReachablePte(ctx: InvariantCtx, ops: fc.Arbitrary<PteOp> = arbOp): fc.Arbitrary<Built<Pte>> {
  return fc.tuple(arbPfn, arbProtIdx, fc.array(ops, { maxLength: 8 })).map(([pfn, idx, seq]) => {
    let b = freshPte(ctx, pfn, idx);
    for (const op of seq) b = built(applyOp(ctx.pg, ctx, op, b.value), opExpr(op, b.expr));
    return b;
  });
}

/**
 * A block (huge pmd) entry reachable from a fresh pmd_mkhuge(pfn_pmd())
 * through the pmd helpers (arm64's pmd_* are the pte_* ones on pmd_pte()):
 * what pmd_basic_tests() holds, block descriptors rather than pages.
 */
export function arbReachablePmd(ctx: InvariantCtx): fc.Arbitrary<Built<Pte>> {
  const ops = arbOp.filter((op) => op.name !== 'hw_store');
  return fc.tuple(arbFreshPmd(ctx), fc.array(ops, { maxLength: 8 })).map(([first, seq]) => {
    let b = first;
    for (const op of seq) b = built(applyOp(ctx.pg, ctx, op, b.value), opExpr(op, b.expr).replaceAll('pte_', 'pmd_'));
    return b;
  });
}

/** Ops the kernel applies to a uffd-wp entry without resolving it (no write upgrade). */
export function arbUffdWpKeepingOp(ctx: InvariantCtx): fc.Arbitrary<PteOp> {
  const nonWritable = ctx.prots.flatMap((p, idx) => (ctx.pg.pteWrite(p) ? [] : [idx]));
  return fc.oneof(
    fc.constantFrom('pte_mkdirty', 'pte_mkclean', 'pte_mkyoung', 'pte_mkold', 'pte_wrprotect', 'pte_mkspecial', 'pte_mksoft_dirty', 'pte_clear_soft_dirty').map((name): PteOp => ({ name })),
    fc.constantFrom(...nonWritable).map((idx): PteOp => ({ name: 'pte_modify', idx })),
  );
}

/** Swap-format flags a pte may carry besides its entry. */
export interface SwpFlags {
  readonly exclusive: boolean;
  readonly uffdWp: boolean;
  readonly softDirty: boolean;
}

export const arbSwpFlags: fc.Arbitrary<SwpFlags> = fc.record({ exclusive: fc.boolean(), uffdWp: fc.boolean(), softDirty: fc.boolean() });

export function withSwpFlags(pg: Pgtable, p: Pte, f: SwpFlags): Pte {
  if (f.exclusive) p = pg.pteSwpMkexclusive(p);
  if (f.uffdWp) p = pg.pteSwpMkuffdWp(p);
  if (f.softDirty) p = pg.pteSwpMksoftDirty(p);
  return p;
}

/** The largest offset the arch encoding keeps (debug_vm_pgtable's max_swap_offset probe). */
export function maxSwapOffset(pg: Pgtable): bigint {
  return swp.swpOffset(pg.pteToSwpEntry(pg.swpEntryToPte(swp.swpEntry(0, swp.SWP_OFFSET_MASK))));
}

/**
 * A swap entry as the kernel makes them: a real swap type with a non-zero
 * offset (slot 0 is the swap header), or one of the special types with any
 * offset. Includes debug_vm_pgtable's own all-ones swp_entry.
 */
export function arbSwpEntry(pg: Pgtable): fc.Arbitrary<Built<swp.SwpEntry>> {
  // debug_vm_pgtable's probe of the largest offset kept (helpers too broken to keep any still get one to fail on)
  const probed = maxSwapOffset(pg) > 0n ? maxSwapOffset(pg) : 1n;
  // the random offsets span what the layout says the encoding holds, not what the helpers under test keep
  const declared = (1n << BigInt(pg.layout.swap.offsetBits)) - 1n;
  const max = declared < swp.SWP_OFFSET_MASK ? declared : swp.SWP_OFFSET_MASK;
  const entry = (type: number, offset: bigint) => built(swp.swpEntry(type, offset), `swp_entry(${type}, ${hex(offset)})`);
  return fc.oneof(
    fc.constant(entry(swp.MAX_SWAPFILES - 1, probed)),
    fc.constant(entry(0, max)),
    fc.tuple(fc.integer({ min: 0, max: swp.MAX_SWAPFILES - 1 }), fc.bigInt({ min: 1n, max })).map(([t, o]) => entry(t, o)),
    fc.tuple(fc.integer({ min: swp.MAX_SWAPFILES, max: swp.SWP_PTE_MARKER - 1 }), fc.bigInt({ min: 0n, max })).map(([t, o]) => entry(t, o)),
  );
}

/** A real-swap entry only (softleaf_is_swap()). */
export function arbRealSwpEntry(pg: Pgtable): fc.Arbitrary<Built<swp.SwpEntry>> {
  return arbSwpEntry(pg).filter((e) => swp.isSwapEntry(e.value));
}

/** A migration entry of any of the three kinds, with young/dirty as the hardware left them. */
export function arbMigrationEntry(pg: Pgtable): fc.Arbitrary<Built<swp.SwpEntry>> {
  const kinds = [
    ['make_readable_migration_entry', swp.makeReadableMigrationEntry],
    ['make_readable_exclusive_migration_entry', swp.makeReadableExclusiveMigrationEntry],
    ['make_writable_migration_entry', swp.makeWritableMigrationEntry],
  ] as const;
  return fc.tuple(fc.constantFrom(...kinds), arbPfn, fc.boolean(), fc.boolean()).map(([[name, make], pfn, young, dirty]) => {
    let e = make(pfn);
    let expr = `${name}(${hex(pfn)})`;
    if (young) [e, expr] = [pg.makeMigrationEntryYoung(e), `make_migration_entry_young(${expr})`];
    if (dirty) [e, expr] = [pg.makeMigrationEntryDirty(e), `make_migration_entry_dirty(${expr})`];
    return built(e, expr);
  });
}

/** A pte marker with any non-empty set of marker bits. */
export function arbMarker(pg: Pgtable): fc.Arbitrary<Built<Pte>> {
  return fc.integer({ min: 1, max: Number(swp.PTE_MARKER_MASK) }).map((m) => built(pg.makePteMarker(BigInt(m)), `make_pte_marker(${hex(m)})`));
}

export { built, hex };
