// The kernel's arm64 page-table helpers (arch/arm64/include/asm/pgtable.h and
// the generic stubs of include/linux/pgtable.h, leafops.h, swapops.h) over a
// layout. A helper's name is the kernel's in camelCase; a pmd_* helper that
// the kernel writes as pte_pmd(pte_*(pmd_pte(pmd))) is the pte helper itself.
//
// Descriptors are bigint: pte_val() of a 64-bit entry. (bench/ has the
// figures behind that choice.)

import * as hw from './hwdef.ts';
import type { Layout } from './layout.ts';
import * as swp from './swapops.ts';
import { DEFAULT_KERNEL, type KernelBehaviour } from '../kernel.ts';

export type Pte = bigint;
export type Pmd = bigint;
export type Pgprot = bigint;

const { PTE_VALID, PTE_AF, PTE_RDONLY, PTE_USER, PTE_UXN, PTE_PXN, PTE_CONT } = hw;
const PTE_WRITE = hw.PTE_DBM;
const mask = (b: number | null): bigint => (b === null ? 0n : hw.bit(b));
// Complements computed once: `p & ~X` would build a new BigInt on every call,
// which halves the speed of bulk passes (bench/descriptors.bench.ts).
const NOT_PTE_VALID = ~PTE_VALID;
const NOT_PTE_RDONLY = ~PTE_RDONLY;
const NOT_PTE_WRITE = ~PTE_WRITE;
const NOT_PTE_AF = ~PTE_AF;
const NOT_PTE_CONT = ~PTE_CONT;
const NOT_PTE_TABLE_BIT = ~hw.PTE_TABLE_BIT;

export interface Pgtable {
  readonly layout: Layout;
  readonly kernel: KernelBehaviour;
  readonly hasUffdWp: boolean;
  readonly hasSoftDirty: boolean;

  pteNone(p: Pte): boolean;
  pteValid(p: Pte): boolean;
  ptePresent(p: Pte): boolean;
  /** present to software, invalid to hardware (PROT_NONE or pte_mkinvalid) */
  ptePresentInvalid(p: Pte): boolean;
  pteProtnone(p: Pte): boolean;
  pteYoung(p: Pte): boolean;
  pteSpecial(p: Pte): boolean;
  pteWrite(p: Pte): boolean;
  pteRdonly(p: Pte): boolean;
  pteUser(p: Pte): boolean;
  pteUserExec(p: Pte): boolean;
  pteHwDirty(p: Pte): boolean;
  pteSwDirty(p: Pte): boolean;
  pteDirty(p: Pte): boolean;
  pteSame(a: Pte, b: Pte): boolean;
  pteAccessPermitted(p: Pte, write: boolean): boolean;
  ptePfn(p: Pte): bigint;
  pfnPte(pfn: bigint, prot: Pgprot): Pte;

  pteMkwriteNovma(p: Pte): Pte;
  pteMkwrite(p: Pte): Pte;
  pteMkclean(p: Pte): Pte;
  pteMkdirty(p: Pte): Pte;
  /** __pte_mkdirty(): dirty without soft-dirty, for code that only keeps hardware dirtiness (the RFC's contpte gather and fold); pte_mkdirty() where there is no soft-dirty */
  __pteMkdirty(p: Pte): Pte;
  pteWrprotect(p: Pte): Pte;
  pteMkold(p: Pte): Pte;
  pteMkyoung(p: Pte): Pte;
  pteMkspecial(p: Pte): Pte;
  pteMkcont(p: Pte): Pte;
  pteMknoncont(p: Pte): Pte;
  /** v6.10+ only: before the series there was no pte_mkinvalid() */
  pteMkinvalid: ((p: Pte) => Pte) | null;
  pteModify(p: Pte, newprot: Pgprot): Pte;

  pteUffdWp(p: Pte): boolean;
  pteMkuffdWp(p: Pte): Pte;
  pteClearUffdWp(p: Pte): Pte;
  pteSoftDirty(p: Pte): boolean;
  pteMksoftDirty(p: Pte): Pte;
  pteClearSoftDirty(p: Pte): Pte;

  // Atomic helpers, as the value they leave in the entry.
  /** __ptep_set_access_flags(): only AF, WRITE, DIRTY (and soft-dirty) may be set, RDONLY only cleared */
  ptepSetAccessFlags(old: Pte, entry: Pte): Pte;
  /** ___ptep_set_wrprotect() */
  ptepSetWrprotect(old: Pte): Pte;
  /** __ptep_test_and_clear_young(): [was young, new value] */
  ptepTestAndClearYoung(old: Pte): [boolean, Pte];

  // Swap-format entries.
  __swpType(p: Pte): number;
  __swpOffset(p: Pte): bigint;
  __swpEntry(type: number, offset: bigint): Pte;
  /** the arch swap entry of a pte: on arm64 the pte value itself */
  __pteToSwpEntry(p: Pte): bigint;
  __swpEntryToPte(arch: bigint): Pte;
  isSwapPte(p: Pte): boolean;
  pteSwpExclusive(p: Pte): boolean;
  pteSwpMkexclusive(p: Pte): Pte;
  pteSwpClearExclusive(p: Pte): Pte;
  pteSwpUffdWp(p: Pte): boolean;
  pteSwpMkuffdWp(p: Pte): Pte;
  pteSwpClearUffdWp(p: Pte): Pte;
  pteSwpSoftDirty(p: Pte): boolean;
  pteSwpMksoftDirty(p: Pte): Pte;
  pteSwpClearSoftDirty(p: Pte): Pte;
  pteSwpClearFlags(p: Pte): Pte;
  /** softleaf_from_pte(): 0 (none) for present and none ptes */
  pteToSwpEntry(p: Pte): swp.SwpEntry;
  swpEntryToPte(e: swp.SwpEntry): Pte;
  makePteMarker(marker: bigint): Pte;
  isPteMarker(p: Pte): boolean;
  pteMarkerUffdWp(p: Pte): boolean;
  pteSwpUffdWpAny(p: Pte): boolean;
  pteNoneMostly(p: Pte): boolean;
  makeMigrationEntryYoung(e: swp.SwpEntry): swp.SwpEntry;
  makeMigrationEntryDirty(e: swp.SwpEntry): swp.SwpEntry;
  isMigrationEntryYoung(e: swp.SwpEntry): boolean;
  isMigrationEntryDirty(e: swp.SwpEntry): boolean;
  // Generic swapops, layout-independent, here so a plugged-in model can supply its own.
  swpEntry(type: number, offset: bigint): swp.SwpEntry;
  swpType(e: swp.SwpEntry): number;
  swpOffset(e: swp.SwpEntry): bigint;
  isSwapEntry(e: swp.SwpEntry): boolean;
  isMigrationEntry(e: swp.SwpEntry): boolean;
  isWritableMigrationEntry(e: swp.SwpEntry): boolean;
  makeReadableMigrationEntry(offset: bigint): swp.SwpEntry;
  makeReadableExclusiveMigrationEntry(offset: bigint): swp.SwpEntry;
  makeWritableMigrationEntry(offset: bigint): swp.SwpEntry;

  // PMD-only helpers (the rest are the pte helpers on pmd_pte()).
  pmdPresent(p: Pmd): boolean;
  pmdProtnone(p: Pmd): boolean;
  pmdMkinvalid(p: Pmd): Pmd;
  pmdMkhuge(p: Pmd): Pmd;
  pmdTable(p: Pmd): boolean;
  pmdBad(p: Pmd): boolean;
  pmdLeaf(p: Pmd): boolean;
  pmdTransHuge(p: Pmd): boolean;
  pmdPfn(p: Pmd): bigint;
  pmdToSwpEntry(p: Pmd): swp.SwpEntry;
  swpEntryToPmd(e: swp.SwpEntry): Pmd;
  /** pmd_is_migration_entry() */
  isPmdMigrationEntry(p: Pmd): boolean;
  /** pmd_is_huge() */
  pmdIsHuge(p: Pmd): boolean;
  /** pmd_is_valid_softleaf(): a migration or device-private pmd entry */
  pmdIsValidSoftleaf(p: Pmd): boolean;
}

export interface PgtableOptions {
  readonly kernel?: KernelBehaviour;
}

/** The kernel's helpers over a layout: what pgtable.h would compile to with these bits. */
export function pgtable(layout: Layout, opts: PgtableOptions = {}): Pgtable {
  const kernel = opts.kernel ?? DEFAULT_KERNEL;
  const PTE_DIRTY = hw.bit(layout.dirty);
  const PTE_SPECIAL = hw.bit(layout.special);
  const PTE_UFFD_WP = mask(layout.uffdWp);
  const PTE_SOFT_DIRTY = mask(layout.softDirty);
  const PTE_SWP_EXCLUSIVE = hw.bit(layout.swap.exclusive);
  const PTE_SWP_UFFD_WP = mask(layout.swap.uffdWp);
  const PTE_SWP_SOFT_DIRTY = mask(layout.swap.softDirty);
  const NOT_PTE_DIRTY = ~PTE_DIRTY;
  const NOT_PTE_UFFD_WP = ~PTE_UFFD_WP;
  const NOT_PTE_SOFT_DIRTY = ~PTE_SOFT_DIRTY;
  const NOT_PTE_SWP_EXCLUSIVE = ~PTE_SWP_EXCLUSIVE;
  const NOT_PTE_SWP_UFFD_WP = ~PTE_SWP_UFFD_WP;
  const NOT_PTE_SWP_SOFT_DIRTY = ~PTE_SWP_SOFT_DIRTY;
  const hasUffdWp = layout.uffdWp !== null;
  const hasSoftDirty = layout.softDirty !== null;
  const inv = layout.invalid;
  /** the bit that PAGE_NONE and pte_present() use while VALID is clear */
  const PTE_INVALID_MARK = hw.bit(inv.style === 'present-invalid' ? inv.bit : inv.protNone);
  const PMD_PRESENT_INVALID = hw.bit(inv.style === 'present-invalid' ? inv.bit : inv.pmdPresentInvalid);

  const pteValid = (p: Pte) => (p & PTE_VALID) !== 0n;
  const pteUser = (p: Pte) => (p & PTE_USER) !== 0n;
  const pteUserExec = (p: Pte) => (p & PTE_UXN) === 0n;
  const pteWrite = (p: Pte) => (p & PTE_WRITE) !== 0n;
  const pteRdonly = (p: Pte) => (p & PTE_RDONLY) !== 0n;
  const pteHwDirty = (p: Pte) => pteWrite(p) && !pteRdonly(p);
  const pteSwDirty = (p: Pte) => (p & PTE_DIRTY) !== 0n;

  // v6.10: pte_present_invalid(); <= v6.9: PTE_PROT_NONE is the only way to be present and invalid.
  const ptePresentInvalid = (p: Pte) => (p & (PTE_VALID | PTE_INVALID_MARK)) === PTE_INVALID_MARK;
  const ptePresent = (p: Pte) => pteValid(p) || ptePresentInvalid(p);
  const pteProtnone =
    inv.style === 'present-invalid'
      ? (p: Pte) => ptePresentInvalid(p) && !pteUser(p) && !pteUserExec(p)
      : ptePresentInvalid;
  const pteNone = (p: Pte) => p === 0n;

  const pteSoftDirty = (p: Pte) => (p & PTE_SOFT_DIRTY) !== 0n;
  const pteMksoftDirty = (p: Pte) => p | PTE_SOFT_DIRTY;
  const pteClearSoftDirty = (p: Pte) => p & NOT_PTE_SOFT_DIRTY;

  // __pte_mkdirty() in the RFC; plain pte_mkdirty() where there is no soft-dirty.
  const pteMkdirtyHw = (p: Pte): Pte => {
    p |= PTE_DIRTY;
    return pteWrite(p) ? p & NOT_PTE_RDONLY : p;
  };
  // pte_mkdirty(): with soft-dirty, dirtying also marks soft-dirty (as x86 does)
  const pteMkdirty = hasSoftDirty ? (p: Pte) => pteMksoftDirty(pteMkdirtyHw(p)) : pteMkdirtyHw;
  // pte_wrprotect(): hardware dirtiness moves into PTE_DIRTY before write permission goes
  const pteWrprotect = (p: Pte): Pte => {
    if (pteHwDirty(p)) p |= PTE_DIRTY;
    return (p & NOT_PTE_WRITE) | PTE_RDONLY;
  };
  // pte_mkwrite_novma(): a clean entry stays clean (143937ca51cc, in both modelled kernels)
  const pteMkwriteNovma = (p: Pte): Pte => {
    p |= PTE_WRITE;
    return pteSwDirty(p) ? p & NOT_PTE_RDONLY : p;
  };
  // pte_mkclean()
  const pteMkclean = (p: Pte): Pte => (p & NOT_PTE_DIRTY) | PTE_RDONLY;
  // pte_mkinvalid() (v6.10+)
  const pteMkinvalid = (p: Pte): Pte => (p | PTE_INVALID_MARK) & NOT_PTE_VALID;

  // pte_modify(): the mask of bits newprot replaces; everything else is kept
  const modifyMask =
    PTE_USER | PTE_PXN | PTE_UXN | PTE_RDONLY | PTE_INVALID_MARK | PTE_VALID | PTE_WRITE | hw.PTE_GP | hw.PTE_ATTRINDX_MASK |
    (layout.poIndex ? hw.PTE_PO_IDX_MASK : 0n);
  const notModifyMask = ~modifyMask;
  const pteModify = (p: Pte, newprot: Pgprot): Pte => {
    if (pteHwDirty(p)) p |= PTE_DIRTY;
    p = (p & notModifyMask) | (newprot & modifyMask);
    // the RFC keeps this one on __pte_mkdirty() so mprotect never fakes soft-dirty
    return pteSwDirty(p) ? pteMkdirtyHw(p) : p;
  };

  // pte_mkuffd_wp(): setting the bit also write-protects
  const pteMkuffdWp = hasUffdWp ? (p: Pte) => pteWrprotect(p | PTE_UFFD_WP) : (p: Pte) => p;

  // __ptep_set_access_flags(): the RFC adds PTE_SOFT_DIRTY to the kept bits
  const accessFlagsMask = PTE_RDONLY | PTE_AF | PTE_WRITE | PTE_DIRTY | PTE_SOFT_DIRTY;
  const ptepSetAccessFlags = (old: Pte, entry: Pte): Pte => {
    if (old === entry) return old;
    const e = (entry & accessFlagsMask) ^ PTE_RDONLY;
    return ((old ^ PTE_RDONLY) | e) ^ PTE_RDONLY;
  };

  // Swap entries: __swp_type() / __swp_offset() / __swp_entry() of the layout.
  const typeShift = BigInt(layout.swap.typeShift);
  const offsetShift = BigInt(layout.swap.offsetShift);
  const offsetMask = (1n << BigInt(layout.swap.offsetBits)) - 1n;
  const __swpType = (p: Pte) => Number((p >> typeShift) & 0x1fn);
  const __swpOffset = (p: Pte) => (p >> offsetShift) & offsetMask;
  const __swpEntry = (type: number, offset: bigint): Pte => (BigInt(type) << typeShift) | ((offset & offsetMask) << offsetShift);
  const notSwpFlags = ~(PTE_SWP_EXCLUSIVE | PTE_SWP_UFFD_WP | PTE_SWP_SOFT_DIRTY);
  const pteSwpClearFlags = (p: Pte) => p & notSwpFlags;
  const isSwapPte = (p: Pte) => !pteNone(p) && !ptePresent(p);
  // softleaf_from_pte()
  const pteToSwpEntry = (p: Pte): swp.SwpEntry => {
    if (ptePresent(p) || pteNone(p)) return 0n;
    const arch = pteSwpClearFlags(p);
    return swp.swpEntry(__swpType(arch), __swpOffset(arch));
  };
  // swp_entry_to_pte()
  const swpEntryToPte = (e: swp.SwpEntry): Pte => __swpEntry(swp.swpType(e), swp.swpOffset(e));
  const isPteMarker = (p: Pte) => isSwapPte(p) && swp.isPteMarkerEntry(pteToSwpEntry(p));
  const pteMarkerUffdWp = (p: Pte) => isPteMarker(p) && (swp.pteMarkerGet(pteToSwpEntry(p)) & swp.PTE_MARKER_UFFD_WP) !== 0n;
  const pteSwpUffdWp = (p: Pte) => (p & PTE_SWP_UFFD_WP) !== 0n;

  // PMDs.
  const pmdPresentInvalid = (p: Pmd) => (p & PMD_PRESENT_INVALID) !== 0n;
  const pmdPresent = inv.style === 'present-invalid' ? ptePresent : (p: Pmd) => ptePresent(p) || pmdPresentInvalid(p);
  const pmdTable = (p: Pmd) => (p & hw.PMD_TYPE_MASK) === hw.PMD_TYPE_TABLE;
  // softleaf_from_pmd(): unlike the pte version it strips only soft-dirty and uffd-wp
  const pmdToSwpEntry = (p: Pmd): swp.SwpEntry => {
    if (pmdPresent(p) || p === 0n) return 0n;
    const arch = p & NOT_PTE_SWP_UFFD_WP & NOT_PTE_SWP_SOFT_DIRTY;
    return swp.swpEntry(__swpType(arch), __swpOffset(arch));
  };
  const isPmdMigrationEntry = (p: Pmd) => swp.isMigrationEntry(pmdToSwpEntry(p));
  const pmdTransHuge =
    inv.style === 'present-invalid'
      ? (p: Pmd) => pmdPresent(p) && !pmdTable(p | PTE_VALID)
      : (p: Pmd) => p !== 0n && pmdPresent(p) && (p & hw.PTE_TABLE_BIT) === 0n;

  const ad = swp.migrationAd(layout.swap.offsetBits);

  return {
    layout,
    kernel,
    hasUffdWp,
    hasSoftDirty,
    pteNone,
    pteValid,
    ptePresent,
    ptePresentInvalid,
    pteProtnone,
    pteYoung: (p) => (p & PTE_AF) !== 0n,
    pteSpecial: (p) => (p & PTE_SPECIAL) !== 0n,
    pteWrite,
    pteRdonly,
    pteUser,
    pteUserExec,
    pteHwDirty,
    pteSwDirty,
    pteDirty: (p) => pteSwDirty(p) || pteHwDirty(p),
    pteSame: (a, b) => a === b,
    // pte_access_permitted_no_overlay(): POE keys are not modelled
    pteAccessPermitted: (p, write) => (p & (PTE_VALID | PTE_USER)) === (PTE_VALID | PTE_USER) && (!write || pteWrite(p)),
    ptePfn: (p) => (p & hw.PTE_ADDR_MASK) >> hw.PAGE_SHIFT,
    pfnPte: (pfn, prot) => ((pfn << hw.PAGE_SHIFT) & hw.PTE_ADDR_MASK) | prot,

    pteMkwriteNovma,
    pteMkwrite: pteMkwriteNovma,
    pteMkclean,
    pteMkdirty,
    __pteMkdirty: pteMkdirtyHw,
    pteWrprotect,
    pteMkold: (p) => p & NOT_PTE_AF,
    pteMkyoung: (p) => p | PTE_AF,
    pteMkspecial: (p) => p | PTE_SPECIAL,
    pteMkcont: (p) => p | PTE_CONT,
    pteMknoncont: (p) => p & NOT_PTE_CONT,
    pteMkinvalid: inv.style === 'present-invalid' ? pteMkinvalid : null,
    pteModify,

    pteUffdWp: (p) => (p & PTE_UFFD_WP) !== 0n,
    pteMkuffdWp,
    pteClearUffdWp: (p) => p & NOT_PTE_UFFD_WP,
    pteSoftDirty,
    pteMksoftDirty,
    pteClearSoftDirty,

    ptepSetAccessFlags,
    ptepSetWrprotect: pteWrprotect,
    ptepTestAndClearYoung: (old) => [(old & PTE_AF) !== 0n, old & NOT_PTE_AF],

    __swpType,
    __swpOffset,
    __swpEntry,
    __pteToSwpEntry: (p) => p,
    __swpEntryToPte: (arch) => arch,
    isSwapPte,
    pteSwpExclusive: (p) => (p & PTE_SWP_EXCLUSIVE) !== 0n,
    pteSwpMkexclusive: (p) => p | PTE_SWP_EXCLUSIVE,
    pteSwpClearExclusive: (p) => p & NOT_PTE_SWP_EXCLUSIVE,
    pteSwpUffdWp,
    pteSwpMkuffdWp: (p) => p | PTE_SWP_UFFD_WP,
    pteSwpClearUffdWp: (p) => p & NOT_PTE_SWP_UFFD_WP,
    pteSwpSoftDirty: (p) => (p & PTE_SWP_SOFT_DIRTY) !== 0n,
    pteSwpMksoftDirty: (p) => p | PTE_SWP_SOFT_DIRTY,
    pteSwpClearSoftDirty: (p) => p & NOT_PTE_SWP_SOFT_DIRTY,
    pteSwpClearFlags,
    pteToSwpEntry,
    swpEntryToPte,
    makePteMarker: (marker) => swpEntryToPte(swp.makePteMarkerEntry(marker)),
    isPteMarker,
    pteMarkerUffdWp,
    // pte_swp_uffd_wp_any(): false unless the arch has uffd-wp (uffd_supports_wp_marker())
    pteSwpUffdWpAny: (p) => hasUffdWp && isSwapPte(p) && (pteSwpUffdWp(p) || pteMarkerUffdWp(p)),
    pteNoneMostly: (p) => pteNone(p) || isPteMarker(p),
    ...ad,
    swpEntry: swp.swpEntry,
    swpType: swp.swpType,
    swpOffset: swp.swpOffset,
    isSwapEntry: swp.isSwapEntry,
    isMigrationEntry: swp.isMigrationEntry,
    isWritableMigrationEntry: swp.isWritableMigrationEntry,
    makeReadableMigrationEntry: swp.makeReadableMigrationEntry,
    makeReadableExclusiveMigrationEntry: swp.makeReadableExclusiveMigrationEntry,
    makeWritableMigrationEntry: swp.makeWritableMigrationEntry,

    pmdPresent,
    pmdProtnone: inv.style === 'present-invalid' ? pteProtnone : (p) => pteProtnone(p) && !pmdPresentInvalid(p),
    pmdMkinvalid: (p) => (p | PMD_PRESENT_INVALID) & NOT_PTE_VALID,
    // pmd_mkhuge(): turn the table type into a block, leaving VALID alone
    pmdMkhuge: (p) => p & NOT_PTE_TABLE_BIT,
    pmdTable,
    pmdBad: (p) => !pmdTable(p),
    pmdLeaf: (p) => pmdPresent(p) && !pmdTable(p),
    pmdTransHuge,
    pmdPfn: (p) => (p & hw.PMD_ADDR_MASK) >> hw.PAGE_SHIFT,
    pmdToSwpEntry,
    swpEntryToPmd: swpEntryToPte,
    isPmdMigrationEntry,
    // pmd_is_huge(): any non-present, non-none pmd is a huge leaf entry
    pmdIsHuge: (p) => (pmdPresent(p) ? pmdTransHuge(p) : p !== 0n),
    // pmd_is_valid_softleaf(): device-private entries are not modelled, so migration only
    pmdIsValidSoftleaf: isPmdMigrationEntry,
  };
}
