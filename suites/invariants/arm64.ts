// arm64 invariants that mm/debug_vm_pgtable.c does not check, each the
// reason a bit allocation or a helper change is safe or not.

import fc from 'fast-check';
import { PTE_DBM, PTE_RDONLY, bit } from '../../model/arm64/hwdef.ts';
import type { Pgtable, Pte } from '../../model/arm64/pgtable.ts';
import { SWP_MIG_DIRTY_BIT } from '../../model/arm64/swapops.ts';
import { PageTableMemory } from '../../model/arm64/tables.ts';
import { access, createRoot, mapPage } from '../../model/arm64/walk.ts';
import {
  applyOp,
  arbMarker,
  arbMigrationEntry,
  arbProtIdx,
  arbReachablePte,
  arbSwpEntry,
  arbSwpFlags,
  arbUffdWpKeepingOp,
  built,
  hex,
  opExpr,
  withSwpFlags,
  type Built,
  type SwpFlags,
} from './arbitraries.ts';
import { check, needsUffdWp, withHelpers } from './define.ts';
import type { Invariant, InvariantCtx } from './invariant.ts';

const SRC = 'arm64';
const USER_VA = 0x0000_7f12_3456_7000n;

/** A write from EL0 with FEAT_HAFDBS on: can the hardware complete it without a fault? */
function hardwareWritable(p: Pte): boolean {
  const mem = new PageTableMemory();
  const root = createRoot(mem);
  mapPage(mem, root, USER_VA, p);
  return access(mem, root, USER_VA, 'write', { hwAF: true, hwDBM: true }).ok;
}

/** A uffd-wp entry, then whatever the kernel may do to it short of resolving the protection. */
function arbUffdWpPte(ctx: InvariantCtx): fc.Arbitrary<Built<Pte>> {
  return fc.tuple(arbReachablePte(ctx), fc.array(arbUffdWpKeepingOp(ctx), { maxLength: 6 })).map(([b, ops]) => {
    let v = ctx.pg.pteMkuffdWp(b.value);
    let expr = `pte_mkuffd_wp(${b.expr})`;
    for (const op of ops) {
      v = applyOp(ctx.pg, ctx, op, v);
      expr = opExpr(op, expr);
    }
    return built(v, expr);
  });
}

/** The observable fields of a present entry, as the kernel's predicates read them. */
function presentView(pg: Pgtable, p: Pte) {
  return {
    pfn: pg.ptePfn(p),
    present: pg.ptePresent(p),
    valid: pg.pteValid(p),
    young: pg.pteYoung(p),
    write: pg.pteWrite(p),
    user: pg.pteUser(p),
    userExec: pg.pteUserExec(p),
    special: pg.pteSpecial(p),
    swDirty: pg.pteSwDirty(p),
    uffdWp: pg.pteUffdWp(p),
    softDirty: pg.pteSoftDirty(p),
  };
}
type PresentField = keyof ReturnType<typeof presentView>;

/** Each software flag of a present entry: how to set it and clear it, and the field it shows in. */
const PRESENT_FLAGS: readonly { field: PresentField; set: (pg: Pgtable, p: Pte) => Pte; clear: (pg: Pgtable, p: Pte) => Pte }[] = [
  { field: 'young', set: (pg, p) => pg.pteMkyoung(p), clear: (pg, p) => pg.pteMkold(p) },
  { field: 'special', set: (pg, p) => pg.pteMkspecial(p), clear: (pg, p) => p & ~bit(pg.layout.special) },
  // on an entry already write-protected, so that the only change is the flag itself
  { field: 'uffdWp', set: (pg, p) => pg.pteMkuffdWp(p), clear: (pg, p) => pg.pteClearUffdWp(p) },
  { field: 'softDirty', set: (pg, p) => pg.pteMksoftDirty(p), clear: (pg, p) => pg.pteClearSoftDirty(p) },
];

function sameExcept(a: Record<string, unknown>, b: Record<string, unknown>, except: string): boolean {
  return Object.keys(a).every((k) => k === except || a[k] === b[k]);
}

/** The decoded fields of a swap-format pte. */
function swapView(pg: Pgtable, p: Pte) {
  return {
    entry: pg.pteToSwpEntry(p),
    swap: pg.isSwapPte(p),
    exclusive: pg.pteSwpExclusive(p),
    uffdWp: pg.pteSwpUffdWp(p),
    softDirty: pg.pteSwpSoftDirty(p),
  };
}

const SWAP_FLAGS: readonly { field: keyof SwpFlags; set: (pg: Pgtable, p: Pte) => Pte; clear: (pg: Pgtable, p: Pte) => Pte }[] = [
  { field: 'exclusive', set: (pg, p) => pg.pteSwpMkexclusive(p), clear: (pg, p) => pg.pteSwpClearExclusive(p) },
  { field: 'uffdWp', set: (pg, p) => pg.pteSwpMkuffdWp(p), clear: (pg, p) => pg.pteSwpClearUffdWp(p) },
  { field: 'softDirty', set: (pg, p) => pg.pteSwpMksoftDirty(p), clear: (pg, p) => pg.pteSwpClearSoftDirty(p) },
];

const swapWithFlags = (ctx: InvariantCtx) =>
  fc.tuple(arbSwpEntry(ctx.pg), arbSwpFlags).map(([e, f]) =>
    built({ pte: withSwpFlags(ctx.pg, ctx.pg.swpEntryToPte(e.value), f), entry: e.value, flags: f }, `${e.expr} with ${JSON.stringify(f)}`),
  );

export const ARM64_INVARIANTS: readonly Invariant[] = [
  check({
    source: SRC,
    name: 'an entry with uffd-wp set is never hardware-writable (a write with FEAT_HAFDBS faults)',
    skip: needsUffdWp,
    arb: arbUffdWpPte,
    holds: (pg, p) => !pg.pteUffdWp(p) || !hardwareWritable(p),
    // the DBM bit left set lets the hardware clear RDONLY on the first write
    mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => pg.pteWrprotect(p) | PTE_DBM }),
  }),
  check({
    source: SRC,
    name: 'write-protecting keeps dirtiness: pte_dirty(pte_wrprotect(pte)) == pte_dirty(pte), and for pte_mkuffd_wp',
    arb: arbReachablePte,
    holds: (pg, p) => pg.pteDirty(pg.pteWrprotect(p)) === pg.pteDirty(p) && pg.pteDirty(pg.pteMkuffdWp(p)) === pg.pteDirty(p),
    mutant: (pg) => withHelpers(pg, { pteWrprotect: (p) => (p & ~PTE_DBM) | PTE_RDONLY }),
  }),
  check({
    source: SRC,
    name: 'pte_modify() keeps the software bits, young, dirtiness and the pfn for every protection',
    arb: (ctx) => fc.tuple(arbReachablePte(ctx), arbProtIdx).map(([b, idx]) => built({ pte: b.value, idx }, `${b.expr}, vm_get_page_prot(${hex(idx)})`)),
    holds: (pg, { pte, idx }, ctx) => {
      const after = pg.pteModify(pte, ctx.prots[idx] ?? 0n);
      const before = presentView(pg, pte);
      const now = presentView(pg, after);
      const dirtyKept = pg.pteDirty(after) === pg.pteDirty(pte);
      const kept: PresentField[] = ['pfn', 'young', 'special', 'uffdWp', 'softDirty'];
      const devmap = pg.layout.devmap === null ? 0n : bit(pg.layout.devmap);
      return dirtyKept && kept.every((f) => before[f] === now[f]) && (after & devmap) === (pte & devmap);
    },
    // the v6.9 mask replaced bit 58 (PTE_PROT_NONE); with uffd-wp there, mprotect() would drop it
    mutant: (pg) => withHelpers(pg, { pteModify: (p, prot) => { const m = bit(pg.layout.uffdWp ?? 58); return (pg.pteModify(p, prot) & ~m) | (prot & m); } }),
  }),
  check({
    source: SRC,
    name: 'each present software flag sets, clears and reads back without touching any other field',
    arb: (ctx) => fc.tuple(arbReachablePte(ctx), fc.constantFrom(...PRESENT_FLAGS.keys())).map(([b, i]) => built({ pte: ctx.pg.pteWrprotect(b.value), i }, `pte_wrprotect(${b.expr}), flag ${PRESENT_FLAGS[i]?.field}`)),
    holds: (pg, { pte, i }) => {
      const f = PRESENT_FLAGS[i];
      if (!f) return false;
      const supported = (f.field !== 'uffdWp' || pg.hasUffdWp) && (f.field !== 'softDirty' || pg.hasSoftDirty);
      if (!supported) return f.set(pg, pte) === pte; // the generic stub
      const on = f.set(pg, pte);
      const off = f.clear(pg, pte);
      const base = presentView(pg, pte);
      return presentView(pg, on)[f.field] === true && presentView(pg, off)[f.field] === false &&
        sameExcept(base, presentView(pg, on), f.field) && sameExcept(base, presentView(pg, off), f.field);
    },
    mutant: (pg) => withHelpers(pg, { pteMkspecial: (p) => p | bit(pg.layout.special) | bit(12) }),
  }),
  check({
    source: SRC,
    name: 'swap entries round-trip type, offset and each flag independently',
    arb: swapWithFlags,
    holds: (pg, { pte, entry, flags }) => {
      const v = swapView(pg, pte);
      const flagsRead =
        v.exclusive === flags.exclusive &&
        v.uffdWp === (flags.uffdWp && pg.hasUffdWp) &&
        v.softDirty === (flags.softDirty && pg.hasSoftDirty);
      const eachIndependent = SWAP_FLAGS.every(({ field, set, clear }) => {
        const on = swapView(pg, set(pg, pte));
        const off = swapView(pg, clear(pg, pte));
        return sameExcept(v, on, field) && sameExcept(v, off, field);
      });
      return v.swap && v.entry === entry && flagsRead && eachIndependent;
    },
    mutant: (pg) => withHelpers(pg, { pteSwpMkexclusive: (p) => p | bit(pg.layout.swap.offsetShift) }),
  }),
  check({
    source: SRC,
    name: 'migration entries keep the pfn, the kind, young and dirty through a pte',
    arb: (ctx) => arbMigrationEntry(ctx.pg),
    holds: (pg, e) => {
      const back = pg.pteToSwpEntry(pg.swpEntryToPte(e));
      return back === e && pg.isMigrationEntry(back) && pg.isMigrationEntryYoung(back) === pg.isMigrationEntryYoung(e) &&
        pg.isMigrationEntryDirty(back) === pg.isMigrationEntryDirty(e);
    },
    mutant: (pg) => withHelpers(pg, { swpEntryToPte: (e) => pg.swpEntryToPte(e) & ~bit(pg.layout.swap.offsetShift + SWP_MIG_DIRTY_BIT) }),
  }),
  check({
    source: SRC,
    name: 'pte markers read back as markers with exactly their marker bits, never as present or none',
    skip: needsUffdWp,
    arb: (ctx) => arbMarker(ctx.pg),
    holds: (pg, p) => {
      const e = pg.pteToSwpEntry(p);
      const uffd = (pg.swpOffset(e) & 1n) === 1n;
      return pg.isPteMarker(p) && !pg.ptePresent(p) && !pg.pteNone(p) && pg.pteNoneMostly(p) && pg.pteMarkerUffdWp(p) === uffd && pg.pteSwpUffdWpAny(p) === uffd;
    },
    mutant: (pg) => withHelpers(pg, { makePteMarker: (m) => pg.makePteMarker(m) | bit(0) }),
  }),
  check({
    source: SRC,
    name: 'a present-invalid entry is never read as swap (pte_mkinvalid, pmd_mkinvalid, PROT_NONE)',
    arb: (ctx) => fc.tuple(arbReachablePte(ctx), fc.constantFrom('pte_mkinvalid', 'pmd_mkinvalid', 'PAGE_NONE')).map(([b, how]) => {
      const pg = ctx.pg;
      const v = how === 'pte_mkinvalid' ? (pg.pteMkinvalid ? pg.pteMkinvalid(b.value) : pg.pteModify(b.value, ctx.prots[0] ?? 0n))
        : how === 'pmd_mkinvalid' ? pg.pmdMkinvalid(pg.pmdMkhuge(b.value)) : pg.pteModify(b.value, ctx.prots[0] ?? 0n);
      return built({ v, pmd: how === 'pmd_mkinvalid' }, `${how}(${b.expr})`);
    }),
    holds: (pg, { v, pmd }) =>
      pmd ? pg.pmdPresent(v) && pg.pmdToSwpEntry(v) === 0n && !pg.isPmdMigrationEntry(v) : pg.ptePresent(v) && !pg.isSwapPte(v) && pg.pteToSwpEntry(v) === 0n,
    mutant: (pg) => withHelpers(pg, { ptePresent: pg.pteValid, pmdPresent: pg.pteValid }),
  }),
  check({
    source: SRC,
    name: 'pte_mkinvalid() and pmd_mkinvalid() clear the valid bit and keep the entry present',
    arb: arbReachablePte,
    holds: (pg, p) => {
      const pmd = pg.pmdMkinvalid(pg.pmdMkhuge(p));
      const pte = pg.pteMkinvalid ? pg.pteMkinvalid(p) : null;
      return !pg.pteValid(pmd) && pg.pmdPresent(pmd) && (pte === null || (!pg.pteValid(pte) && pg.ptePresent(pte)));
    },
    mutant: (pg) => withHelpers(pg, { pmdMkinvalid: (p) => p, ...(pg.pteMkinvalid ? { pteMkinvalid: (p: Pte) => p } : {}) }),
  }),
  check({
    source: SRC,
    name: 'a swap, migration or marker entry is never read as present, as a pte or as a pmd',
    arb: (ctx) => fc.oneof(swapWithFlags(ctx).map((b) => built(b.value.pte, b.expr)), arbMigrationEntry(ctx.pg).map((e) => built(ctx.pg.swpEntryToPte(e.value), e.expr)), arbMarker(ctx.pg)),
    holds: (pg, p) => !pg.ptePresent(p) && !pg.pmdPresent(p) && !pg.pteNone(p) && pg.isSwapPte(p),
    // a swap encoding whose type field reaches down into the present-invalid bit
    mutant: (pg) => withHelpers(pg, { swpEntryToPte: (e) => pg.swpEntryToPte(e) | bit(invalidBit(pg)) }),
  }),
  check({
    source: SRC,
    name: 'pte_clear_uffd_wp() does not restore write permission',
    skip: needsUffdWp,
    arb: arbReachablePte,
    holds: (pg, p) => !pg.pteWrite(pg.pteClearUffdWp(pg.pteMkuffdWp(p))),
    mutant: (pg) => withHelpers(pg, { pteClearUffdWp: (p) => pg.pteMkwrite(pg.pteClearUffdWp(p)) }),
  }),
];

function invalidBit(pg: Pgtable): number {
  const inv = pg.layout.invalid;
  return inv.style === 'present-invalid' ? inv.bit : inv.protNone;
}
