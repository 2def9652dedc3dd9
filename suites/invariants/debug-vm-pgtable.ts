// The PTE, PMD, swap and migration checks of mm/debug_vm_pgtable.c (current
// upstream), as properties. The kernel runs each WARN_ON() on one fixed
// entry per protection; here each runs on random entries of the same kind.
// PUD checks are absent: arm64 has no HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD.
// The *_clear/*_populate/p4d/pgd checks store and reload a value, which a
// pure helper model has nothing to get wrong; they are not ported.

import fc from 'fast-check';
import { PTE_AF, PTE_DBM, PTE_RDONLY, PTE_VALID, bit } from '../../model/arm64/hwdef.ts';
import type { Pgtable, Pte } from '../../model/arm64/pgtable.ts';
import { VM_ACCESS_FLAGS } from '../../model/arm64/prot.ts';
import {
  arbFreshPmd,
  arbFreshPte,
  arbMigrationEntry,
  arbPfn,
  arbRealSwpEntry,
  arbReachablePmd,
  arbReachablePte,
  built,
  hex,
  protOf,
  type Built,
} from './arbitraries.ts';
import { needsSoftDirty, warnOn, withHelpers, type Gate } from './define.ts';
import type { Invariant, InvariantCtx } from './invariant.ts';

const SRC = 'debug_vm_pgtable.c';
const dirtyBit = (pg: Pgtable) => bit(pg.layout.dirty);
/** 143937ca51cc (v6.18) added these checks with its pte_mkwrite_novma() change */
const needsMkwriteNovmaFix: Gate = (pg) =>
  pg.kernel.debugVmPgtableMkwriteNovma ? null : `kernel ${pg.kernel.version}'s debug_vm_pgtable.c does not have this check (143937ca51cc, v6.18)`;

type Arb = (ctx: InvariantCtx) => fc.Arbitrary<Built<Pte>>;

/** pte_basic_tests() and pmd_basic_tests(): the same list with pte_ or pmd_ names. */
function basicTests(x: 'pte' | 'pmd', fresh: Arb, reachable: Arb): Invariant[] {
  const source = `${SRC}: ${x}_basic_tests`;
  const c = (s: string) => s.replaceAll('pte', x);
  return [
    // Must run on the fresh entry: on arm64 !PTE_RDONLY means dirty.
    warnOn({ source, cond: c('pte_dirty(pte_wrprotect(pte))'), arb: fresh, fires: (pg, p) => pg.pteDirty(pg.pteWrprotect(p)),
      mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => pg.pteWrprotect(p) | dirtyBit(pg) }) }),
    warnOn({ source, cond: c('!pte_same(pte, pte)'), arb: reachable, fires: (pg, p) => !pg.pteSame(p, p),
      mutant: (pg) => withHelpers(pg, { pteSame: (a, b) => a !== b }), byConstruction: 'pte_same() is equality on arm64' }),
    warnOn({ source, cond: c('!pte_young(pte_mkyoung(pte_mkold(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteYoung(pg.pteMkyoung(pg.pteMkold(p))),
      mutant: (pg) => withHelpers(pg, { pteMkyoung: (p) => p }) }),
    warnOn({ source, cond: c('!pte_dirty(pte_mkdirty(pte_mkclean(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteDirty(pg.pteMkdirty(pg.pteMkclean(p))),
      mutant: (pg) => withHelpers(pg, { pteMkdirty: (p) => p }) }),
    warnOn({ source, cond: c('!pte_write(pte_mkwrite(pte_wrprotect(pte), args->vma))'), arb: reachable, fires: (pg, p) => !pg.pteWrite(pg.pteMkwrite(pg.pteWrprotect(p))),
      mutant: (pg) => withHelpers(pg, { pteMkwrite: (p) => p & ~PTE_RDONLY }) }),
    warnOn({ source, cond: c('pte_young(pte_mkold(pte_mkyoung(pte)))'), arb: reachable, fires: (pg, p) => pg.pteYoung(pg.pteMkold(pg.pteMkyoung(p))),
      mutant: (pg) => withHelpers(pg, { pteMkold: (p) => p }) }),
    // arm64: a clean entry must also be RDONLY, or it reads as hardware-dirty.
    warnOn({ source, cond: c('pte_dirty(pte_mkclean(pte_mkdirty(pte)))'), arb: reachable, fires: (pg, p) => pg.pteDirty(pg.pteMkclean(pg.pteMkdirty(p))),
      mutant: (pg) => withHelpers(pg, { pteMkclean: (p) => p & ~dirtyBit(pg) }) }),
    warnOn({ source, cond: c('pte_write(pte_wrprotect(pte_mkwrite(pte, args->vma)))'), arb: reachable, fires: (pg, p) => pg.pteWrite(pg.pteWrprotect(pg.pteMkwrite(p))),
      mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => p | PTE_RDONLY }) }),
    warnOn({ source, cond: c('pte_dirty(pte_wrprotect(pte_mkclean(pte)))'), arb: reachable, fires: (pg, p) => pg.pteDirty(pg.pteWrprotect(pg.pteMkclean(p))),
      mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => pg.pteWrprotect(p) | dirtyBit(pg) }) }),
    // The hardware-dirty state must survive losing write permission.
    warnOn({ source, cond: c('!pte_dirty(pte_wrprotect(pte_mkdirty(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteDirty(pg.pteWrprotect(pg.pteMkdirty(p))),
      mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => (p & ~(PTE_DBM | dirtyBit(pg))) | PTE_RDONLY }) }),
    warnOn({ source, cond: c('!pte_dirty(pte_mkwrite_novma(pte_mkdirty(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteDirty(pg.pteMkwriteNovma(pg.pteMkdirty(p))),
      mutant: (pg) => withHelpers(pg, { pteMkwriteNovma: (p) => (p | PTE_DBM | PTE_RDONLY) & ~dirtyBit(pg) }) }),
    // Before v6.18 arm64 failed this one: making a clean entry writable made it hw-dirty.
    warnOn({ source, cond: c('pte_dirty(pte_mkwrite_novma(pte_mkclean(pte)))'), skip: needsMkwriteNovmaFix, arb: reachable,
      fires: (pg, p) => pg.pteDirty(pg.pteMkwriteNovma(pg.pteMkclean(p))),
      mutant: (pg) => withHelpers(pg, { pteMkwriteNovma: (p) => (p | PTE_DBM) & ~PTE_RDONLY }) }),
    warnOn({ source, cond: c('!pte_write(pte_mkdirty(pte_mkwrite_novma(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteWrite(pg.pteMkdirty(pg.pteMkwriteNovma(p))),
      mutant: (pg) => withHelpers(pg, { pteMkdirty: (p) => (p | dirtyBit(pg)) & ~PTE_DBM }) }),
    warnOn({ source, cond: c('!pte_write(pte_mkwrite_novma(pte_wrprotect(pte)))'), arb: reachable, fires: (pg, p) => !pg.pteWrite(pg.pteMkwriteNovma(pg.pteWrprotect(p))),
      mutant: (pg) => withHelpers(pg, { pteMkwriteNovma: (p) => p }) }),
    warnOn({ source, cond: c('pte_write(pte_wrprotect(pte_mkwrite_novma(pte)))'), arb: reachable, fires: (pg, p) => pg.pteWrite(pg.pteWrprotect(pg.pteMkwriteNovma(p))),
      mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => p | PTE_RDONLY }) }),
  ];
}

/** pte_advanced_tests() and pmd_advanced_tests(): the atomic helpers on an installed entry. */
function advancedTests(x: 'pte' | 'pmd', arb: Arb): Invariant[] {
  const source = `${SRC}: ${x}_advanced_tests`;
  return [
    warnOn({ source, cond: `pte_write(ptep_get(ptep)) after ${x}p_set_wrprotect()`.replaceAll('pte_', `${x}_`), arb,
      fires: (pg, p) => pg.pteWrite(pg.ptepSetWrprotect(p)),
      mutant: (pg) => withHelpers(pg, { ptepSetWrprotect: (p) => p }) }),
    warnOn({ source, cond: `!(pte_write(pte) && pte_dirty(pte)) after ${x}p_set_access_flags(pte_mkdirty(pte_mkwrite(pte)))`.replaceAll('pte_', `${x}_`),
      arb: (ctx) => arb(ctx).map((b) => built(ctx.pg.pteMkclean(ctx.pg.pteWrprotect(b.value)), `pte_mkclean(pte_wrprotect(${b.expr}))`)),
      fires: (pg, p) => {
        const now = pg.ptepSetAccessFlags(p, pg.pteMkdirty(pg.pteMkwrite(p)));
        return !(pg.pteWrite(now) && pg.pteDirty(now));
      },
      // only AF may be set: a mask that lost PTE_WRITE and PTE_DIRTY
      mutant: (pg) => withHelpers(pg, { ptepSetAccessFlags: (old, entry) => old | (entry & PTE_AF) }) }),
    warnOn({ source, cond: `pte_young(ptep_get(ptep)) after ${x}p_test_and_clear_young()`.replaceAll('pte_', `${x}_`),
      arb: (ctx) => arb(ctx).map((b) => built(ctx.pg.pteMkyoung(b.value), `pte_mkyoung(${b.expr})`)),
      fires: (pg, p) => pg.pteYoung(pg.ptepTestAndClearYoung(p)[1]),
      mutant: (pg) => withHelpers(pg, { ptepTestAndClearYoung: (old) => [true, old] }) }),
  ];
}

const pageProtNonePte = (ctx: InvariantCtx) =>
  arbPfn.map((pfn) => built(ctx.pg.pfnPte(pfn, protOf(ctx, 0)), `pfn_pte(${hex(pfn)}, args->page_prot_none)`));
const pageProtNonePmd = (ctx: InvariantCtx) =>
  arbPfn.map((pfn) => built(ctx.pg.pmdMkhuge(ctx.pg.pfnPte(pfn & ~511n, protOf(ctx, 0))), `pmd_mkhuge(pfn_pmd(${hex(pfn & ~511n)}, args->page_prot_none))`));
const freshPmd = (ctx: InvariantCtx) => arbFreshPmd(ctx, false);
/** arch_make_huge_pte(pfn_pte(pmd_pfn, page_prot), PMD_SHIFT, VM_ACCESS_FLAGS) */
const hugetlbPte = (ctx: InvariantCtx) =>
  arbPfn.map((pfn) => built(ctx.pg.pmdMkhuge(ctx.pg.pfnPte(pfn & ~511n, protOf(ctx, VM_ACCESS_FLAGS))), `arch_make_huge_pte(pfn_pte(${hex(pfn & ~511n)}, args->page_prot), PMD_SHIFT, VM_ACCESS_FLAGS)`));
const swpPte = (ctx: InvariantCtx) => arbRealSwpEntry(ctx.pg).map((e) => built(ctx.pg.swpEntryToPte(e.value), `swp_entry_to_pte(${e.expr})`));
const migrationPmd = (ctx: InvariantCtx) => arbMigrationEntry(ctx.pg).map((e) => built(ctx.pg.swpEntryToPmd(e.value), `swp_entry_to_pmd(${e.expr})`));

/** A swap pte whose decoded entry must equal the one it was built from, through each exclusive step. */
function swapRoundTrip(pg: Pgtable, e: bigint, step: (p: Pte) => Pte): boolean {
  const back = pg.pteToSwpEntry(step(pg.swpEntryToPte(e)));
  return pg.isSwapEntry(back) && back === e;
}
const swpEntryArb = (ctx: InvariantCtx) => arbRealSwpEntry(ctx.pg);

/** Helpers that encode a swap entry as a valid (present) pte. */
const swpEntryToPresentPte = (pg: Pgtable) => withHelpers(pg, { swpEntryToPte: (e) => pg.swpEntryToPte(e) | PTE_VALID });

export const DEBUG_VM_PGTABLE: readonly Invariant[] = [
  ...basicTests('pte', arbFreshPte, arbReachablePte),
  // block descriptors, not the pte tests' pages again
  ...basicTests('pmd', freshPmd, arbReachablePmd),
  warnOn({ source: `${SRC}: pmd_basic_tests`, cond: '!pmd_bad(pmd_mkhuge(pmd))', arb: freshPmd, fires: (pg, p) => !pg.pmdBad(pg.pmdMkhuge(p)),
    mutant: (pg) => withHelpers(pg, { pmdMkhuge: (p) => p }) }),
  // The kernel uses args->page_prot, which is not writable on arm64; any reachable entry is.
  ...advancedTests('pte', arbReachablePte),
  ...advancedTests('pmd', (ctx) => arbReachablePte(ctx).map((b) => built(ctx.pg.pmdMkhuge(b.value), `pmd_mkhuge(${b.expr})`))),
  warnOn({ source: `${SRC}: pmd_leaf_tests`, cond: '!pmd_leaf(pmd_mkhuge(pmd))', arb: freshPmd, fires: (pg, p) => !pg.pmdLeaf(pg.pmdMkhuge(p)),
    mutant: (pg) => withHelpers(pg, { pmdLeaf: (p) => pg.pmdPresent(p) && (p & PTE_VALID) !== 0n && pg.pmdTable(p) }) }),
  warnOn({ source: `${SRC}: pte_special_tests`, cond: '!pte_special(pte_mkspecial(pte))', arb: arbReachablePte, fires: (pg, p) => !pg.pteSpecial(pg.pteMkspecial(p)),
    mutant: (pg) => withHelpers(pg, { pteMkspecial: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_protnone_tests`, cond: '!pte_protnone(pte)', arb: pageProtNonePte, fires: (pg, p) => !pg.pteProtnone(p),
    mutant: (pg) => withHelpers(pg, { pteProtnone: (p) => pg.pteProtnone(p) && pg.pteUser(p) }) }),
  warnOn({ source: `${SRC}: pte_protnone_tests`, cond: '!pte_present(pte)', arb: pageProtNonePte, fires: (pg, p) => !pg.ptePresent(p),
    mutant: (pg) => withHelpers(pg, { ptePresent: pg.pteValid }) }),
  warnOn({ source: `${SRC}: pmd_protnone_tests`, cond: '!pmd_protnone(pmd)', arb: pageProtNonePmd, fires: (pg, p) => !pg.pmdProtnone(p),
    mutant: (pg) => withHelpers(pg, { pmdProtnone: (p) => pg.pmdProtnone(p) && pg.pteValid(p) }) }),
  warnOn({ source: `${SRC}: pmd_protnone_tests`, cond: '!pmd_present(pmd)', arb: pageProtNonePmd, fires: (pg, p) => !pg.pmdPresent(p),
    mutant: (pg) => withHelpers(pg, { pmdPresent: pg.pteValid }) }),

  warnOn({ source: `${SRC}: pte_soft_dirty_tests`, cond: '!pte_soft_dirty(pte_mksoft_dirty(pte))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: arbReachablePte,
    fires: (pg, p) => !pg.pteSoftDirty(pg.pteMksoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteMksoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_soft_dirty_tests`, cond: 'pte_soft_dirty(pte_clear_soft_dirty(pte))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: arbReachablePte,
    fires: (pg, p) => pg.pteSoftDirty(pg.pteClearSoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteClearSoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pmd_soft_dirty_tests`, cond: '!pmd_soft_dirty(pmd_mksoft_dirty(pmd))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: freshPmd,
    fires: (pg, p) => !pg.pteSoftDirty(pg.pteMksoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteMksoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pmd_soft_dirty_tests`, cond: 'pmd_soft_dirty(pmd_clear_soft_dirty(pmd))', skip: needsSoftDirty, mutantLayout: 'rfc',
    arb: (ctx) => freshPmd(ctx).map((b) => built(ctx.pg.pteMksoftDirty(b.value), `pmd_mksoft_dirty(${b.expr})`)),
    fires: (pg, p) => pg.pteSoftDirty(pg.pteClearSoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteClearSoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_swap_soft_dirty_tests`, cond: '!softleaf_is_swap(softleaf_from_pte(pte))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: swpPte,
    fires: (pg, p) => !pg.isSwapEntry(pg.pteToSwpEntry(p)), mutant: swpEntryToPresentPte }),
  warnOn({ source: `${SRC}: pte_swap_soft_dirty_tests`, cond: '!pte_swp_soft_dirty(pte_swp_mksoft_dirty(pte))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: swpPte,
    fires: (pg, p) => !pg.pteSwpSoftDirty(pg.pteSwpMksoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteSwpMksoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_swap_soft_dirty_tests`, cond: 'pte_swp_soft_dirty(pte_swp_clear_soft_dirty(pte))', skip: needsSoftDirty, mutantLayout: 'rfc',
    arb: (ctx) => swpPte(ctx).map((b) => built(ctx.pg.pteSwpMksoftDirty(b.value), `pte_swp_mksoft_dirty(${b.expr})`)),
    fires: (pg, p) => pg.pteSwpSoftDirty(pg.pteSwpClearSoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteSwpClearSoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pmd_leaf_soft_dirty_tests`, cond: '!pmd_is_huge(pmd)', skip: needsSoftDirty, mutantLayout: 'rfc', arb: migrationPmd,
    fires: (pg, p) => !pg.pmdIsHuge(p), mutant: (pg) => withHelpers(pg, { pmdIsHuge: (p) => pg.pmdPresent(p) && pg.pmdTransHuge(p) }) }),
  warnOn({ source: `${SRC}: pmd_leaf_soft_dirty_tests`, cond: '!pmd_is_valid_softleaf(pmd)', skip: needsSoftDirty, mutantLayout: 'rfc', arb: migrationPmd,
    fires: (pg, p) => !pg.pmdIsValidSoftleaf(p), mutant: (pg) => withHelpers(pg, { pmdIsValidSoftleaf: (p) => pg.isSwapEntry(pg.pmdToSwpEntry(p)) }) }),
  warnOn({ source: `${SRC}: pmd_leaf_soft_dirty_tests`, cond: '!pmd_swp_soft_dirty(pmd_swp_mksoft_dirty(pmd))', skip: needsSoftDirty, mutantLayout: 'rfc', arb: migrationPmd,
    fires: (pg, p) => !pg.pteSwpSoftDirty(pg.pteSwpMksoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteSwpMksoftDirty: (p) => p }) }),
  warnOn({ source: `${SRC}: pmd_leaf_soft_dirty_tests`, cond: 'pmd_swp_soft_dirty(pmd_swp_clear_soft_dirty(pmd))', skip: needsSoftDirty, mutantLayout: 'rfc',
    arb: (ctx) => migrationPmd(ctx).map((b) => built(ctx.pg.pteSwpMksoftDirty(b.value), `pmd_swp_mksoft_dirty(${b.expr})`)),
    fires: (pg, p) => pg.pteSwpSoftDirty(pg.pteSwpClearSoftDirty(p)), mutant: (pg) => withHelpers(pg, { pteSwpClearSoftDirty: (p) => p }) }),

  warnOn({ source: `${SRC}: pte_swap_exclusive_tests`, cond: 'pte_swp_exclusive(swp_entry_to_pte(entry))', arb: swpEntryArb,
    fires: (pg, e) => pg.pteSwpExclusive(pg.swpEntryToPte(e)),
    mutant: (pg) => withHelpers(pg, { swpEntryToPte: (e) => pg.pteSwpMkexclusive(pg.swpEntryToPte(e)) }) }),
  warnOn({ source: `${SRC}: pte_swap_exclusive_tests`, cond: '!pte_swp_exclusive(pte_swp_mkexclusive(pte))', arb: swpPte,
    fires: (pg, p) => !pg.pteSwpExclusive(pg.pteSwpMkexclusive(p)), mutant: (pg) => withHelpers(pg, { pteSwpMkexclusive: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_swap_exclusive_tests`, cond: 'pte_swp_soft_dirty(pte_swp_mkexclusive(pte))', arb: swpPte, mutantLayout: 'rfc',
    fires: (pg, p) => pg.pteSwpSoftDirty(pg.pteSwpMkexclusive(p)),
    mutant: (pg) => withHelpers(pg, { pteSwpMkexclusive: (p) => pg.pteSwpMksoftDirty(pg.pteSwpMkexclusive(p)) }) }),
  warnOn({ source: `${SRC}: pte_swap_exclusive_tests`, cond: 'pte_swp_exclusive(pte_swp_clear_exclusive(pte))',
    arb: (ctx) => swpPte(ctx).map((b) => built(ctx.pg.pteSwpMkexclusive(b.value), `pte_swp_mkexclusive(${b.expr})`)),
    fires: (pg, p) => pg.pteSwpExclusive(pg.pteSwpClearExclusive(p)), mutant: (pg) => withHelpers(pg, { pteSwpClearExclusive: (p) => p }) }),
  warnOn({ source: `${SRC}: pte_swap_exclusive_tests`, cond: 'memcmp(&entry, &softleaf, sizeof(entry)) (plain, exclusive, cleared)', arb: swpEntryArb,
    fires: (pg, e) =>
      !swapRoundTrip(pg, e, (p) => p) ||
      !swapRoundTrip(pg, e, pg.pteSwpMkexclusive) ||
      !swapRoundTrip(pg, e, (p) => pg.pteSwpClearExclusive(pg.pteSwpMkexclusive(p))),
    mutant: (pg) => withHelpers(pg, { pteSwpMkexclusive: (p) => p | bit(pg.layout.swap.offsetShift) }) }),
  warnOn({ source: `${SRC}: pte_swap_tests`, cond: '!softleaf_is_swap(softleaf_from_pte(pte1))', arb: swpPte,
    fires: (pg, p) => !pg.isSwapEntry(pg.pteToSwpEntry(p)), mutant: swpEntryToPresentPte }),
  warnOn({ source: `${SRC}: pte_swap_tests`, cond: 'memcmp(&pte1, &pte2) with pte2 = __swp_entry_to_pte(__pte_to_swp_entry(pte1))', arb: swpPte,
    fires: (pg, p) => pg.__swpEntryToPte(pg.__pteToSwpEntry(p)) !== p,
    mutant: (pg) => withHelpers(pg, { __swpEntryToPte: (a) => a & ~bit(pg.layout.swap.offsetShift + pg.layout.swap.offsetBits - 1) }),
    byConstruction: '__pte_to_swp_entry() and __swp_entry_to_pte() are casts on arm64' }),
  warnOn({ source: `${SRC}: pmd_softleaf_tests`, cond: '!pmd_is_huge(pmd1)', arb: migrationPmd,
    fires: (pg, p) => !pg.pmdIsHuge(p), mutant: (pg) => withHelpers(pg, { pmdIsHuge: (p) => pg.pmdPresent(p) && pg.pmdTransHuge(p) }) }),
  warnOn({ source: `${SRC}: pmd_softleaf_tests`, cond: '!pmd_is_valid_softleaf(pmd1)', arb: migrationPmd,
    fires: (pg, p) => !pg.pmdIsValidSoftleaf(p), mutant: (pg) => withHelpers(pg, { pmdIsValidSoftleaf: (p) => pg.isSwapEntry(pg.pmdToSwpEntry(p)) }) }),
  warnOn({ source: `${SRC}: pmd_softleaf_tests`, cond: 'memcmp(&pmd1, &pmd2) with pmd2 = __swp_entry_to_pmd(__pmd_to_swp_entry(pmd1))', arb: migrationPmd,
    fires: (pg, p) => pg.__swpEntryToPte(pg.__pteToSwpEntry(p)) !== p,
    mutant: (pg) => withHelpers(pg, { __pteToSwpEntry: (p) => p & ~bit(pg.layout.swap.typeShift + 4) }),
    byConstruction: '__pmd_to_swp_entry() and __swp_entry_to_pmd() are casts on arm64' }),
  warnOn({ source: `${SRC}: swap_migration_tests`, cond: '!softleaf_is_migration_write(make_writable_migration_entry(pfn))',
    arb: () => arbPfn.map((pfn) => built(pfn, 'pfn')),
    fires: (pg, pfn) => {
      const e = pg.makeWritableMigrationEntry(pfn);
      return !pg.isMigrationEntry(e) || !pg.isWritableMigrationEntry(e);
    },
    mutant: (pg) => withHelpers(pg, { makeWritableMigrationEntry: pg.makeReadableExclusiveMigrationEntry }) }),
  warnOn({ source: `${SRC}: swap_migration_tests`, cond: 'softleaf_is_migration_write(make_readable_migration_entry(pfn))',
    arb: () => arbPfn.map((pfn) => built(pfn, 'pfn')),
    fires: (pg, pfn) => {
      const viaOffset = pg.makeReadableMigrationEntry(pg.swpOffset(pg.makeWritableMigrationEntry(pfn)));
      const direct = pg.makeReadableMigrationEntry(pfn);
      return [viaOffset, direct].some((e) => !pg.isMigrationEntry(e) || pg.isWritableMigrationEntry(e));
    },
    mutant: (pg) => withHelpers(pg, { isWritableMigrationEntry: pg.isMigrationEntry }) }),

  warnOn({ source: `${SRC}: pmd_thp_tests`, cond: '!pmd_trans_huge(pmd_mkhuge(pmd))', arb: freshPmd, fires: (pg, p) => !pg.pmdTransHuge(pg.pmdMkhuge(p)),
    mutant: (pg) => withHelpers(pg, { pmdTransHuge: (p) => pg.pmdTransHuge(p) && pg.pmdTable(p) }) }),
  // A THP being split is invalidated but must stay present and huge (pmdp_invalidate()).
  // On v6.10 clearing VALID alone leaves a user entry present (nG is always set), so the wrong helper is tried on v6.9.
  warnOn({ source: `${SRC}: pmd_thp_tests`, cond: '!pmd_trans_huge(pmd_mkinvalid(pmd_mkhuge(pmd)))', arb: freshPmd, mutantLayout: 'v6.9',
    fires: (pg, p) => !pg.pmdTransHuge(pg.pmdMkinvalid(pg.pmdMkhuge(p))), mutant: (pg) => withHelpers(pg, { pmdMkinvalid: (p) => p & ~PTE_VALID }) }),
  warnOn({ source: `${SRC}: pmd_thp_tests`, cond: '!pmd_present(pmd_mkinvalid(pmd_mkhuge(pmd)))', arb: freshPmd, mutantLayout: 'v6.9',
    fires: (pg, p) => !pg.pmdPresent(pg.pmdMkinvalid(pg.pmdMkhuge(p))), mutant: (pg) => withHelpers(pg, { pmdMkinvalid: (p) => p & ~PTE_VALID }) }),
  warnOn({ source: `${SRC}: pmd_thp_tests`, cond: '!pmd_leaf(pmd_mkinvalid(pmd_mkhuge(pmd)))', arb: freshPmd, mutantLayout: 'v6.9',
    fires: (pg, p) => !pg.pmdLeaf(pg.pmdMkinvalid(pg.pmdMkhuge(p))), mutant: (pg) => withHelpers(pg, { pmdMkinvalid: (p) => p & ~PTE_VALID }) }),

  warnOn({ source: `${SRC}: hugetlb_basic_tests`, cond: '!huge_pte_dirty(huge_pte_mkdirty(pte))', arb: hugetlbPte,
    fires: (pg, p) => !pg.pteDirty(pg.pteMkdirty(p)), mutant: (pg) => withHelpers(pg, { pteMkdirty: (p) => p }) }),
  warnOn({ source: `${SRC}: hugetlb_basic_tests`, cond: '!huge_pte_write(huge_pte_mkwrite(huge_pte_wrprotect(pte)))', arb: hugetlbPte,
    fires: (pg, p) => !pg.pteWrite(pg.pteMkwriteNovma(pg.pteWrprotect(p))), mutant: (pg) => withHelpers(pg, { pteMkwriteNovma: (p) => p }) }),
  warnOn({ source: `${SRC}: hugetlb_basic_tests`, cond: 'huge_pte_write(huge_pte_wrprotect(huge_pte_mkwrite(pte)))', arb: hugetlbPte,
    fires: (pg, p) => pg.pteWrite(pg.pteWrprotect(pg.pteMkwriteNovma(p))), mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => p | PTE_RDONLY }) }),
];
