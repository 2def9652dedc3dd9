// The hardware side: a stage-1 walk of TTBR0_EL1 (T0SZ=16, 4K granule, start
// level 0) and the EL0 access checks that follow it, in the order QEMU's
// get_phys_addr_lpae() applies them. Functions over PageTableMemory; their
// only state is a memo of the last TTBR's root table and the record of the
// walk just made (W), which callers read right after the call.

import {
  PAGE_SHIFT,
  PMD_ADDR_MASK,
  PMD_TYPE_TABLE,
  PTE_ADDR_MASK,
  PTE_AF,
  PTE_DBM,
  PTE_RDONLY,
  PTE_TABLE_BIT,
  PTE_TYPE_MASK,
  PTE_USER,
  PTE_UXN,
  PTE_VALID,
  PTRS_PER_TABLE,
  tableIndex,
  PUD_ADDR_MASK,
  TABLE_AP_NO_EL0,
  TABLE_AP_RDONLY,
  TABLE_PXN,
  TABLE_UXN,
  VA_BITS,
  genmask,
  levelShift,
} from './hwdef.ts';
import { DESC_NONE, WALK_NO_EL0, WALK_PXN, WALK_RDONLY, WALK_UXN, type PageTableMemory } from './tables.ts';

/** EL0 accesses only: the model is about user memory. */
export type Access = 'read' | 'write' | 'exec';

/** FEAT_HAFDBS: hwAF is TCR_EL1.HA, hwDBM is TCR_EL1.HD. */
export interface HwFeatures {
  hwAF: boolean;
  hwDBM: boolean;
}

export type FaultType = 'translation' | 'access-flag' | 'permission' | 'address-size';

/** A stage-1 abort as ESR_EL1 reports it: fsc is DFSC/IFSC, whose low two bits are the level. */
export interface Fault {
  type: FaultType;
  level: number;
  fsc: number;
  access: Access;
}

/** A walk has no access type yet; access() adds it. */
export type WalkFault = Omit<Fault, 'access'>;

/** Hierarchical attributes ORed down the table descriptors of one walk. */
export interface TableAttrs {
  /** UXNTable */
  uxn: boolean;
  /** PXNTable: Linux sets it on user tables; it never affects EL0. */
  pxn: boolean;
  /** APTable[0] */
  noEl0: boolean;
  /** APTable[1] */
  rdonly: boolean;
}

export type TranslateResult =
  | { ok: true; level: number; descPa: bigint; desc: bigint; pa: bigint; table: TableAttrs }
  | { ok: false; fault: WalkFault };

/** before/after: the leaf descriptor before and after the hardware AF/DBM update. */
export type AccessResult =
  | { ok: true; pa: bigint; level: number; descPa: bigint; before: bigint; after: bigint }
  | { ok: false; fault: Fault };

// ESR_ELx DFSC/IFSC: 0b0000LL address size, 0b0001LL translation,
// 0b0010LL access flag, 0b0011LL permission.
const FSC_BASE: Readonly<Record<FaultType, number>> = {
  'address-size': 0x00,
  translation: 0x04,
  'access-flag': 0x08,
  permission: 0x0c,
};

const INDEX_MASK = BigInt(PTRS_PER_TABLE - 1);
/** TBI0 is set for EL0, so VA[63:56] is a tag; VA[55:48] must then select TTBR0, i.e. be 0. */
const TTBR0_SELECT_MASK = genmask(55, Number(VA_BITS));
/** A walk restarts when its atomic update loses a race; this bounds the model, not the hardware. */
const MAX_WALK_RESTARTS = 8;

function walkFault(type: FaultType, level: number): WalkFault {
  return { type, level, fsc: FSC_BASE[type] + level };
}

// Descriptor address at `level`: table base | VA index * 8.
function slotAt(table: bigint, va: bigint, level: number): bigint {
  return table | (((va >> levelShift(level)) & INDEX_MASK) << 3n);
}

// TTBR0_EL1.BADDR; ASID (63:48) and CnP (bit 0) are not addresses.
function rootTable(ttbr: bigint): bigint {
  return ttbr & PTE_ADDR_MASK;
}

// OA field of a leaf: a 1 GiB block at L1, a 2 MiB block at L2, a page at L3.
function leafAddrMask(level: number): bigint {
  if (level === 1) return PUD_ADDR_MASK;
  if (level === 2) return PMD_ADDR_MASK;
  return PTE_ADDR_MASK;
}

const VPN_MASK = genmask(Number(VA_BITS) - 13, 0);
// a table descriptor's attribute bits, within its upper 32-bit word
const high = (b: bigint) => Number(b >> 32n);
const [HI_UXN, HI_PXN, HI_NO_EL0, HI_RDONLY] = [TABLE_UXN, TABLE_PXN, TABLE_AP_NO_EL0, TABLE_AP_RDONLY].map(high) as [number, number, number, number];
/** per level: the VA bits within a leaf, and the leaf's output-address bits [31:0] (bits [47:32] are the upper word's low 16) */
const LEAF_OFFSET_MASK = [0, 1, 2, 3].map((level) => (1n << levelShift(level)) - 1n);
/** per level: the bytes a leaf maps, as a number */
const LEAF_SPAN = [0, 1, 2, 3].map((level) => 2 ** Number(levelShift(level)));
const PAGE_BYTES = 2 ** Number(PAGE_SHIFT);
/** VAs below this are untagged and select TTBR0 */
const UNTAGGED_LIMIT = 1n << VA_BITS;
const LEAF_ADDR_LOW = [0, 1, 2, 3].map((level) => Number(leafAddrMask(level) & 0xffff_ffffn));
const LEAF_ADDR_HIGH = high(PTE_ADDR_MASK);
const LO_VALID = Number(PTE_VALID);
const LO_TABLE_BIT = Number(PTE_TABLE_BIT);
const [LO_USER, LO_RDONLY, LO_AF] = [PTE_USER, PTE_RDONLY, PTE_AF].map(Number) as [number, number, number];
const [HI_DBM, HI_UXN_LEAF] = [PTE_DBM, PTE_UXN].map(high) as [number, number];
let lastTtbr = -1n;
let lastRoot = 0;

// What the last walk found, as numbers: walkLeaf() and checkAccess() leave it here so that the
// model's own loads and stores (accessPa()) build no object. Read right after the call.
const W = {
  level: 0,
  frame: 0,
  index: 0,
  /** table attributes gathered on the way (WALK_* bits) */
  attrs: 0,
  /** the output address of the access (a leaf's OA plus the VA's offset within it) */
  pa: 0,
  /** the leaf before and after the hardware's AF/DBM update (checkAccess() only) */
  before: 0n,
  after: 0n,
};

/**
 * get_phys_addr_lpae(): the walk up to the leaf, before the AF, DBM and
 * permission checks. The level of the leaf (W holds where it is), or -1 for
 * a translation fault at W.level. Descriptors are read as 32-bit words
 * (PageTableMemory.nextTable(), low(), high()), and the last pte table a
 * walk reached is remembered (PageTableMemory.cachedPteTable()).
 */
function walkLeaf(mem: PageTableMemory, ttbr: bigint, va: bigint): number {
  W.level = 0;
  // an untagged VA below 2^48, as nearly every access is, as a number: no bigint arithmetic per access
  const vaNum = va >= 0n && va < UNTAGGED_LIMIT ? Number(va) : -1;
  if (vaNum < 0 && (va & TTBR0_SELECT_MASK) !== 0n) return -1;
  const vpn = vaNum >= 0 ? Math.floor(vaNum / PAGE_BYTES) : Number((va >> PAGE_SHIFT) & VPN_MASK);
  if (ttbr !== lastTtbr) {
    lastRoot = Number(rootTable(ttbr) >> PAGE_SHIFT);
    lastTtbr = ttbr;
  }
  const region = Math.floor(vpn / PTRS_PER_TABLE);
  let frame = mem.cachedPteTable(lastRoot, region);
  let attrs = mem.cachedAttrs;
  let level = 3;
  if (frame < 0) {
    frame = lastRoot;
    attrs = 0;
    for (level = 0; level < 3; level++) {
      const i = tableIndex(vpn, level);
      const next = mem.nextTable(frame, i);
      if (next < 0) {
        W.level = level;
        if (next === DESC_NONE) return -1;
        break; // not a table: the leaf (or an invalid entry) is here
      }
      const hi = mem.high(frame, i);
      if (hi & HI_UXN) attrs |= WALK_UXN;
      if (hi & HI_PXN) attrs |= WALK_PXN;
      if (hi & HI_NO_EL0) attrs |= WALK_NO_EL0;
      if (hi & HI_RDONLY) attrs |= WALK_RDONLY;
      frame = next;
    }
    if (level === 3) mem.rememberPteTable(lastRoot, region, frame, attrs);
  }
  const i = tableIndex(vpn, level);
  const lo = mem.low(frame, i);
  W.level = level;
  // Invalid, or 0b01 at L3, which is reserved.
  if ((lo & LO_VALID) === 0 || ((lo & LO_TABLE_BIT) === 0 && level === 3)) return -1;
  // AArch64.BlockDescSupported(): no L0 blocks with a 4K granule unless LPA2.
  if (level === 0) return -1;
  W.frame = frame;
  W.index = i;
  W.attrs = attrs;
  const offset = vaNum >= 0 ? vaNum % LEAF_SPAN[level]! : Number(va & LEAF_OFFSET_MASK[level]!);
  W.pa = (mem.high(frame, i) & LEAF_ADDR_HIGH) * 2 ** 32 + ((lo & LEAF_ADDR_LOW[level]!) >>> 0) + offset;
  return level;
}

/** The PA of the leaf the last walk found (W.frame, W.index). */
const leafPa = (): number => W.frame * PTRS_PER_TABLE * 8 + W.index * 8;

const tableAttrs = (attrs: number): TableAttrs => ({
  uxn: (attrs & WALK_UXN) !== 0,
  pxn: (attrs & WALK_PXN) !== 0,
  noEl0: (attrs & WALK_NO_EL0) !== 0,
  rdonly: (attrs & WALK_RDONLY) !== 0,
});

// get_phys_addr_lpae(): the walk up to the leaf, before the AF, DBM and permission checks.
export function translate(mem: PageTableMemory, ttbr: bigint, va: bigint): TranslateResult {
  const level = walkLeaf(mem, ttbr, va);
  if (level < 0) return { ok: false, fault: walkFault('translation', W.level) };
  return { ok: true, level, descPa: BigInt(leafPa()), desc: mem.entry(W.frame, W.index), pa: BigInt(W.pa), table: tableAttrs(W.attrs) };
}

// get_S1prot() for EL0 (simple_ap_to_rw_prot_is_user(ap, true)), table
// attributes applied as QEMU does; SCTLR_EL1.WXN is off for Linux user memory.
// lo and hi are the leaf's words after the AF/DBM update.
function el0Permits(lo: number, hi: number, attrs: number, acc: Access): boolean {
  const user = (lo & LO_USER) !== 0 && !(attrs & WALK_NO_EL0);
  switch (acc) {
    case 'read':
      return user;
    case 'write':
      return user && (lo & LO_RDONLY) === 0 && !(attrs & WALK_RDONLY);
    case 'exec': // needs no read permission: AP=0b10 with UXN=0 is execute-only
      return (hi & HI_UXN_LEAF) === 0 && !(attrs & WALK_UXN);
  }
}

/**
 * get_phys_addr_lpae() leaf checks: AF, then DBM, then permission, then the
 * atomic update (arm_casq_ptw()). 'ok' (W holds the leaf, W.before and
 * W.after), or the fault type (W.level is its level).
 */
function checkAccess(mem: PageTableMemory, ttbr: bigint, va: bigint, acc: Access, hw: HwFeatures): 'ok' | FaultType {
  if (hw.hwDBM && !hw.hwAF) throw new Error('TCR_EL1.HD without TCR_EL1.HA is not a Linux configuration');
  for (let attempt = 0; attempt < MAX_WALK_RESTARTS; attempt++) {
    if (walkLeaf(mem, ttbr, va) < 0) return 'translation';
    const lo = mem.low(W.frame, W.index);
    const hi = mem.high(W.frame, W.index);
    let after = lo;
    // The access flag is checked before permissions: an old read-only page written reports access-flag.
    if ((after & LO_AF) === 0) {
      if (!hw.hwAF) return 'access-flag';
      after |= LO_AF;
    }
    // DBM turns writable-clean into writable-dirty before the permission check sees AP[2].
    if (hw.hwDBM && acc === 'write' && (hi & HI_DBM) !== 0) after &= ~LO_RDONLY;
    // On a permission fault nothing is written back, not even AF.
    if (!el0Permits(after, hi, W.attrs, acc)) return 'permission';
    W.before = mem.entry(W.frame, W.index);
    // AF and AP[2] are in the low word: the update is that word's change
    W.after = after === lo ? W.before : W.before + BigInt((after >>> 0) - (lo >>> 0));
    // A lost CAS means software changed the descriptor after the walk read it: walk again.
    if (W.after !== W.before && !mem.cmpxchg(BigInt(leafPa()), W.before, W.after)) continue;
    return 'ok';
  }
  throw new Error(`walk of VA 0x${va.toString(16)} lost ${MAX_WALK_RESTARTS} descriptor updates in a row`);
}

export function access(mem: PageTableMemory, ttbr: bigint, va: bigint, acc: Access, hw: HwFeatures): AccessResult {
  const r = checkAccess(mem, ttbr, va, acc, hw);
  if (r !== 'ok') return { ok: false, fault: { ...walkFault(r, W.level), access: acc } };
  return { ok: true, pa: BigInt(W.pa), level: W.level, descPa: BigInt(leafPa()), before: W.before, after: W.after };
}

/** access() for the model's own loads and stores: the PA reached as a number, or -1 on any fault (the kernel's fault handler asks no more). */
export function accessPa(mem: PageTableMemory, ttbr: bigint, va: bigint, acc: Access, hw: HwFeatures): number {
  return checkAccess(mem, ttbr, va, acc, hw) === 'ok' ? W.pa : -1;
}

// Software side, not hardware: the slots and tables Linux's helpers assume.
function checkSlotArgs(va: bigint, level: number): void {
  if (va < 0n || va >> VA_BITS !== 0n) throw new Error(`VA 0x${va.toString(16)} is not an untagged user VA`);
  if (!Number.isInteger(level) || level < 0 || level > 3) throw new Error(`no translation level ${level}`);
}

// pgd_alloc(): a zeroed PGD whose PA goes in TTBR0_EL1.
export function createRoot(mem: PageTableMemory): bigint {
  return mem.allocTable();
}

// pgd_offset()/pud_offset()/pmd_offset()/pte_offset_map(): the slot for VA at
// `level`, or null when an intermediate entry is not a table.
export function leafSlot(mem: PageTableMemory, ttbr: bigint, va: bigint, level: number): bigint | null {
  checkSlotArgs(va, level);
  let base = rootTable(ttbr);
  for (let l = 0; l < level; l++) {
    const desc = mem.read(slotAt(base, va, l));
    if ((desc & PTE_TYPE_MASK) !== PMD_TYPE_TABLE) return null;
    base = desc & PTE_ADDR_MASK;
  }
  return slotAt(base, va, level);
}

// __pte_alloc()/pmd_alloc() then set_pte_at()/set_pmd_at(): fill missing tables,
// write leafDesc as given (valid or not) at `level`; returns the slot PA.
export function mapPage(mem: PageTableMemory, ttbr: bigint, va: bigint, leafDesc: bigint, level = 3): bigint {
  checkSlotArgs(va, level);
  let base = rootTable(ttbr);
  for (let l = 0; l < level; l++) {
    const slot = slotAt(base, va, l);
    let desc = mem.read(slot);
    if (desc === 0n) {
      desc = mem.allocTable(l + 1) | PMD_TYPE_TABLE;
      mem.write(slot, desc);
    } else if ((desc & PTE_TYPE_MASK) !== PMD_TYPE_TABLE) {
      throw new Error(`level ${l} entry 0x${desc.toString(16)} for VA 0x${va.toString(16)} is not a table`);
    }
    base = desc & PTE_ADDR_MASK;
  }
  const slot = slotAt(base, va, level);
  mem.write(slot, leafDesc);
  return slot;
}
