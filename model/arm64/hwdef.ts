// Architectural descriptor bits for the VMSAv8-64 stage-1 translation regime,
// 4K granule, 48-bit VA and PA, as arch/arm64/include/asm/pgtable-hwdef.h
// names them. Software meanings live in the layouts, not here.

export const PAGE_SHIFT = 12n;
export const PAGE_SIZE = 1n << PAGE_SHIFT;
export const PMD_SHIFT = 21n;
export const PUD_SHIFT = 30n;
export const PGDIR_SHIFT = 39n;
export const PTRS_PER_TABLE = 512;
export const VA_BITS = 48n;
export const PA_BITS = 48n;

// ARM64_HW_PGTABLE_LEVEL_SHIFT(n) for levels 0-3, computed once: a walk asks at every level
const LEVEL_SHIFT = [0, 1, 2, 3].map((level) => (PAGE_SHIFT - 3n) * BigInt(4 - level) + 3n);

/** Shift of the VA bits a level-n table indexes: ARM64_HW_PGTABLE_LEVEL_SHIFT(n). */
export function levelShift(level: number): bigint {
  const shift = LEVEL_SHIFT[level];
  if (shift === undefined) throw new Error(`no translation level ${level}`);
  return shift;
}

/**
 * The index of page vpn's entry in its level-`level` table (VA bits
 * [47:39], [38:30], [29:21] or [20:12]), with the page number as a number.
 * Below level 0 the index lies within the number's low 32 bits, which bit
 * operations keep: `%` of a number past 2^31 is a call into V8's runtime.
 */
export function tableIndex(vpn: number, level: number): number {
  return level === 0 ? Math.floor(vpn / 2 ** 27) & 511 : (vpn >>> (27 - 9 * level)) & 511;
}

export const bit = (n: number): bigint => 1n << BigInt(n);
/** GENMASK(hi, lo) */
export const genmask = (hi: number, lo: number): bigint => ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);

export const PTE_VALID = bit(0);
export const PTE_TABLE_BIT = bit(1);
export const PTE_TYPE_MASK = 3n;
export const PTE_TYPE_PAGE = 3n;
export const PMD_TYPE_MASK = 3n;
export const PMD_TYPE_TABLE = 3n;
export const PMD_TYPE_SECT = 1n;
export const PTE_ATTRINDX_SHIFT = 2n;
export const PTE_ATTRINDX_MASK = 7n << PTE_ATTRINDX_SHIFT;
export const PTE_ATTRINDX = (t: bigint): bigint => t << PTE_ATTRINDX_SHIFT;
export const MT_NORMAL = 0n;
export const MT_NORMAL_TAGGED = 1n;
export const PTE_NS = bit(5);
export const PTE_USER = bit(6); // AP[1]
export const PTE_RDONLY = bit(7); // AP[2]
export const PTE_SHARED = 3n << 8n; // SH[1:0], inner shareable
export const PTE_AF = bit(10);
export const PTE_NG = bit(11);
export const PTE_GP = bit(50);
export const PTE_DBM = bit(51);
export const PTE_CONT = bit(52);
export const PTE_PXN = bit(53);
export const PTE_UXN = bit(54);
/** OA[47:12] of a page descriptor (no LPA2: bits 49:48 stay zero). */
export const PTE_ADDR_MASK = genmask(47, 12);
export const PMD_ADDR_MASK = genmask(47, 21);
export const PUD_ADDR_MASK = genmask(47, 30);
/** FEAT_S1POE permission overlay index (pkeys), bits 62:60. */
export const PTE_PO_IDX_MASK = genmask(62, 60);
/** Bits the architecture leaves to software in page and block descriptors. */
export const PTE_SWBITS_MASK = bit(63) | genmask(58, 55);

// Table descriptor attributes (hierarchical). Linux sets PXNTable (and with
// FEAT_HAFT, AF) on user tables in pmd/pud/p4d_populate; neither limits EL0.
export const TABLE_PXN = bit(59);
/** PMD_TABLE_AF and friends: ignored without FEAT_HAFT */
export const TABLE_AF = bit(10);
export const TABLE_UXN = bit(60);
export const TABLE_AP_NO_EL0 = bit(61); // APTable[0]
export const TABLE_AP_RDONLY = bit(62); // APTable[1]
export const TABLE_NS = bit(63);

/**
 * The architectural name of each bit of a valid page or block descriptor,
 * as a reader of the Arm ARM knows it. A layout's software fields are laid
 * over this map; bit 63 and 55-58 are the software bits.
 */
export function hardwareLeafBit(n: number, opts: { poIndex: boolean }): string | null {
  if (n === 0) return 'PTE_VALID';
  if (n === 1) return 'PTE_TABLE_BIT (page: 1, block: 0)';
  if (n >= 2 && n <= 4) return `PTE_ATTRINDX[${n - 2}]`;
  if (n === 5) return 'NS';
  if (n === 6) return 'PTE_USER (AP[1])';
  if (n === 7) return 'PTE_RDONLY (AP[2])';
  if (n === 8 || n === 9) return `PTE_SHARED (SH[${n - 8}])`;
  if (n === 10) return 'PTE_AF';
  if (n === 11) return 'PTE_NG';
  if (n >= 12 && n <= 47) return `OA[${n}]`;
  if (n === 48 || n === 49) return `OA[${n}] (LPA2 only; RES0 here)`;
  if (n === 50) return 'PTE_GP';
  if (n === 51) return 'PTE_DBM (PTE_WRITE)';
  if (n === 52) return 'PTE_CONT';
  if (n === 53) return 'PTE_PXN';
  if (n === 54) return 'PTE_UXN';
  if (n === 59) return 'PBHA[0]';
  if (n >= 60 && n <= 62) return opts.poIndex ? `PTE_PO_IDX_${n - 60} (FEAT_S1POE)` : `PBHA[${n - 59}]`;
  return null; // 55-58, 63: software
}

export const SOFTWARE_BITS: readonly number[] = [55, 56, 57, 58, 63];
