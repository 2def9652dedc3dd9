// The arch-independent swap entry (swp_entry_t) and its special types,
// as include/linux/swap.h, swapops.h and leafops.h define them. The arch
// encoding of an entry inside a pte is the layout's business (pgtable.ts).
//
// Special type numbers depend on the kernel config; these are Debian's cloud
// kernels' (read from config-6.12.117+deb13-cloud-arm64 and -amd64):
// MIGRATION and MEMORY_FAILURE on, DEVICE_PRIVATE off, ARM64_PA_BITS=52.

export type SwpEntry = bigint;

export const MAX_SWAPFILES_SHIFT = 5;
const SWP_DEVICE_NUM = 0;
const SWP_MIGRATION_NUM = 3;
const SWP_HWPOISON_NUM = 1;
const SWP_PTE_MARKER_NUM = 1;
export const MAX_SWAPFILES = (1 << MAX_SWAPFILES_SHIFT) - SWP_DEVICE_NUM - SWP_MIGRATION_NUM - SWP_HWPOISON_NUM - SWP_PTE_MARKER_NUM;
export const SWP_HWPOISON = MAX_SWAPFILES;
export const SWP_MIGRATION_READ = MAX_SWAPFILES + SWP_HWPOISON_NUM;
export const SWP_MIGRATION_READ_EXCLUSIVE = SWP_MIGRATION_READ + 1;
export const SWP_MIGRATION_WRITE = SWP_MIGRATION_READ + 2;
export const SWP_PTE_MARKER = MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM + SWP_DEVICE_NUM;

/** BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT */
export const SWP_TYPE_SHIFT = 63n - BigInt(MAX_SWAPFILES_SHIFT);
export const SWP_OFFSET_MASK = (1n << SWP_TYPE_SHIFT) - 1n;
/** MAX_PHYSMEM_BITS - PAGE_SHIFT: Debian builds arm64 with 52-bit PA (LPA2-capable) */
export const SWP_PFN_BITS = 40;
export const SWP_MIG_YOUNG_BIT = SWP_PFN_BITS;
export const SWP_MIG_DIRTY_BIT = SWP_PFN_BITS + 1;
export const SWP_MIG_YOUNG = 1n << BigInt(SWP_MIG_YOUNG_BIT);
export const SWP_MIG_DIRTY = 1n << BigInt(SWP_MIG_DIRTY_BIT);

export const PTE_MARKER_UFFD_WP = 1n << 0n;
export const PTE_MARKER_POISONED = 1n << 1n;
export const PTE_MARKER_GUARD = 1n << 2n;
export const PTE_MARKER_MASK = (1n << 3n) - 1n;

// swp_entry()
export const swpEntry = (type: number, offset: bigint): SwpEntry => (BigInt(type) << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK);
// swp_type()
export const swpType = (e: SwpEntry): number => Number(e >> SWP_TYPE_SHIFT);
// swp_offset()
export const swpOffset = (e: SwpEntry): bigint => e & SWP_OFFSET_MASK;

// make_readable_migration_entry()
export const makeReadableMigrationEntry = (offset: bigint): SwpEntry => swpEntry(SWP_MIGRATION_READ, offset);
// make_readable_exclusive_migration_entry()
export const makeReadableExclusiveMigrationEntry = (offset: bigint): SwpEntry => swpEntry(SWP_MIGRATION_READ_EXCLUSIVE, offset);
// make_writable_migration_entry()
export const makeWritableMigrationEntry = (offset: bigint): SwpEntry => swpEntry(SWP_MIGRATION_WRITE, offset);
// softleaf_is_migration() (is_migration_entry())
export const isMigrationEntry = (e: SwpEntry): boolean => {
  const t = swpType(e);
  return t === SWP_MIGRATION_READ || t === SWP_MIGRATION_READ_EXCLUSIVE || t === SWP_MIGRATION_WRITE;
};
// softleaf_is_migration_write() (is_writable_migration_entry())
export const isWritableMigrationEntry = (e: SwpEntry): boolean => swpType(e) === SWP_MIGRATION_WRITE;
// softleaf_is_swap(): a real swap device, not a special type, and not the none entry
export const isSwapEntry = (e: SwpEntry): boolean => e !== 0n && swpType(e) < MAX_SWAPFILES;

/**
 * Young/dirty ride in a migration entry only when the arch swap offset can
 * hold them above the PFN (migration_entry_supports_ad(): swapfile_init()
 * compares arch_max_swapfile_size() with 1 << SWP_MIG_TOTAL_BITS).
 */
export function migrationAd(archOffsetBits: number) {
  const supported = Math.min(archOffsetBits, Number(SWP_TYPE_SHIFT)) >= SWP_MIG_DIRTY_BIT + 1;
  return {
    // make_migration_entry_young()
    makeMigrationEntryYoung: (e: SwpEntry): SwpEntry => (supported ? swpEntry(swpType(e), swpOffset(e) | SWP_MIG_YOUNG) : e),
    // make_migration_entry_dirty()
    makeMigrationEntryDirty: (e: SwpEntry): SwpEntry => (supported ? swpEntry(swpType(e), swpOffset(e) | SWP_MIG_DIRTY) : e),
    // is_migration_entry_young(): without A/D support pages age after migration
    isMigrationEntryYoung: (e: SwpEntry): boolean => (supported ? (swpOffset(e) & SWP_MIG_YOUNG) !== 0n : false),
    // is_migration_entry_dirty()
    isMigrationEntryDirty: (e: SwpEntry): boolean => (supported ? (swpOffset(e) & SWP_MIG_DIRTY) !== 0n : false),
  };
}

// make_pte_marker_entry()
export const makePteMarkerEntry = (marker: bigint): SwpEntry => swpEntry(SWP_PTE_MARKER, marker & PTE_MARKER_MASK);
// softleaf_is_marker() (is_pte_marker_entry())
export const isPteMarkerEntry = (e: SwpEntry): boolean => swpType(e) === SWP_PTE_MARKER;
// softleaf_to_marker() (pte_marker_get())
export const pteMarkerGet = (e: SwpEntry): bigint => swpOffset(e) & PTE_MARKER_MASK;
// softleaf_is_guard_marker(): a guard region's page (MADV_GUARD_INSTALL)
export const isGuardMarkerEntry = (e: SwpEntry): boolean => isPteMarkerEntry(e) && (pteMarkerGet(e) & PTE_MARKER_GUARD) !== 0n;
// softleaf_is_poison_marker(): a page UFFDIO_POISON marked (PTE_MARKER_POISONED)
export const isPoisonMarkerEntry = (e: SwpEntry): boolean => isPteMarkerEntry(e) && (pteMarkerGet(e) & PTE_MARKER_POISONED) !== 0n;
