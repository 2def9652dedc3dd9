// Kernel-version behaviour that changes what the page-table helpers do,
// independent of which bits a layout assigns.

export interface KernelBehaviour {
  /** The kernel version whose helpers the model follows, e.g. "6.12". */
  readonly version: string;
  /**
   * debug_vm_pgtable.c checks pte_mkwrite_novma() on clean and dirty entries:
   * 143937ca51cc (v6.18) added them with its fix (pte_mkwrite_novma() clears
   * PTE_RDONLY only when PTE_DIRTY is set). Debian's 6.12 carries the fix
   * (measured: a page swapped in by a load stays writable-clean) but not
   * the checks.
   */
  readonly debugVmPgtableMkwriteNovma: boolean;
  /**
   * VMA_STICKY_FLAGS (v6.19): a merge keeps VM_SOFTDIRTY if any part had it;
   * before, the merged area took the flags of the area it grew from.
   */
  readonly vmaStickySoftDirty: boolean;
  /** PAGE_IS_GUARD is a PAGEMAP_SCAN category (after 6.12; PM_SCAN_CATEGORIES in 6.12 ends at PAGE_IS_SOFT_DIRTY): before, asking for it is EINVAL. */
  readonly pagemapScanGuard: boolean;
  /**
   * cluster_alloc_swap_entry(): a page goes to a partly used cluster before
   * a free one (measured: 7.2's first swap slot is 1, 6.12's is 0x200).
   */
  readonly swapNonfullFirst: boolean;
  /** mm/swap_slots.c: pages take swap slots from, and free them into, batches of 64 (removed after 6.12) */
  readonly swapSlotsCache: boolean;
  /** a swapon without a priority gets -1 (DEF_SWAP_PRIO, 7.2) or one below the last (--least_priority, from -2: 6.12) */
  readonly swapDefaultPrio: number;
  /** pmd_populate() and friends set AF in table entries (FEAT_HAFT support; measured in 7.2, not in 6.12) */
  readonly tableAf: boolean;
  /** set_huge_zero_folio() marks the huge zero pmd special (measured in 7.2, not in 6.12) */
  readonly hugeZeroPmdSpecial: boolean;
  /**
   * UFFDIO_UNREGISTER only through the context that registered an area
   * (EINVAL otherwise); 6.12 lets any context unregister it (measured: the
   * other context's area loses its registration and its write protection).
   */
  readonly uffdUnregisterOwnCtxOnly: boolean;
}

export const KERNELS: Readonly<Record<string, KernelBehaviour>> = {
  '6.12': { version: '6.12', debugVmPgtableMkwriteNovma: false, vmaStickySoftDirty: false, pagemapScanGuard: false, swapNonfullFirst: false, swapDefaultPrio: -2, swapSlotsCache: true, tableAf: false, hugeZeroPmdSpecial: false, uffdUnregisterOwnCtxOnly: false },
  '7.2': { version: '7.2', debugVmPgtableMkwriteNovma: true, vmaStickySoftDirty: true, pagemapScanGuard: true, swapNonfullFirst: true, swapDefaultPrio: -1, swapSlotsCache: false, tableAf: true, hugeZeroPmdSpecial: true, uffdUnregisterOwnCtxOnly: true },
};

export function kernelByName(name: string): KernelBehaviour {
  const k = KERNELS[name];
  if (!k) throw new Error(`unknown kernel behaviour "${name}" (known: ${Object.keys(KERNELS).join(', ')})`);
  return k;
}

/**
 * The current upstream tree (Debian sid's linux-source), which the ported
 * selftests come from, is the model's default; '6.12' is Debian trixie's.
 */
export const DEFAULT_KERNEL: KernelBehaviour = kernelByName('7.2');
